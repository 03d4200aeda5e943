"""ms2mnet.experiment.run: one configuration end to end, and the apps' error on unknown names."""

import json
from pathlib import Path

import pytest
import yaml

from ms2mnet.experiment import run



def test_run_writes_everything_a_report_needs(tiny_config, tmp_path):
    metrics = run(tiny_config("variant=no_dfe", "seed=3"))
    run_dir = tmp_path / "synthetic" / "tiny" / "ms2mnet-no_dfe" / "seed3"
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert 0 <= saved["miou"] <= 1 and 0 <= saved["oa"] <= 1
    assert saved["selection"] == "last" and saved["variant"] == "no_dfe" and saved["seed"] == 3
    assert sorted(p.name for p in (run_dir / "predictions").iterdir()) == [
        "area15.png", "area21.png", "area30.png", "area5.png"]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["variant"] == "no_dfe" and config["profile"]["train"]["crop"] == 32
    # what the model's yaml leaves unset is filled in from its registration, for this dataset's layout
    assert config["model"]["loss"] == "paper" and config["model"]["aux_weights"] == [0.3, 0.2]
    assert config["model"]["loss_weights"] == {"focal": 0.6, "boundary": 0.4}
    env = json.loads((run_dir / "env.json").read_text())
    assert env["seed"] == 3 and env["packages"]["torch"] and env["device"] == "cpu"
    assert (run_dir / "checkpoint.pt").is_file()


def test_test_best_selection_is_marked(tinyseg):
    metrics = run(tinyseg("selection=test_best"))
    assert metrics["selection"] == "test_best" and "test set" in metrics["warning"]
    assert metrics["selected_epoch"] in (1, 2)


def test_test_best_selection_survives_a_resume(tinyseg, tmp_path):
    """The epochs judged before an interruption count after the resume; a fresh run forgets them."""
    from ms2mnet.engine.checkpoint import load_checkpoint, save_checkpoint

    run(tinyseg("selection=test_best"))
    best_path = tmp_path / "synthetic" / "tiny" / "tinyseg" / "seed0" / "test_best.pt"
    saved = load_checkpoint(best_path, require=("epoch", "metrics", "state"))
    saved["metrics"]["miou"] = 2.0   # a choice no epoch of the resumed run can beat, marked by its epoch
    save_checkpoint(best_path, epoch=99, metrics=saved["metrics"], state=saved["state"])
    resumed = run(tinyseg("selection=test_best"))   # the checkpoint is final: no epoch is trained again
    assert resumed["selected_epoch"] == 99
    fresh = run(tinyseg("selection=test_best", "resume=false"))
    assert fresh["selected_epoch"] in (1, 2)
    assert load_checkpoint(best_path, require=("epoch",))["epoch"] == fresh["selected_epoch"]


@pytest.mark.parametrize("override, expected", [("variant=no_such", "valid variants: full, no_vfe"),
                                               ("dataset=mars", "Available options in 'dataset'"),
                                               ("model=no_such", "Available options in 'model'")])
def test_unknown_names_list_the_valid_ones(override, expected, tmp_path, capsys):
    from ms2mnet.app import main

    assert main("config", [override, f"paths.runs={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_cli_run_then_predict_a_users_tile(tiny_overrides, tmp_path):
    import numpy as np
    import tifffile
    from PIL import Image

    from ms2mnet.cli import main
    from ms2mnet.data.palette import PALETTE

    overrides = [*tiny_overrides, "profile.train.epochs=1"]
    assert main(["run", "--run", "ms2mnet-rgb_only", *overrides]) == 0
    checkpoint = tmp_path / "synthetic" / "tiny" / "ms2mnet-rgb_only" / "seed0" / "checkpoint.pt"
    assert checkpoint.is_file()

    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "top.tif", rng.integers(0, 256, (70, 90, 3), dtype=np.uint8))
    tifffile.imwrite(tmp_path / "dsm.tif", rng.normal(260, 5, (70, 90)).astype(np.float32))
    out = tmp_path / "pred.png"
    assert main(["predict", "--checkpoint", str(checkpoint), "--image", str(tmp_path / "top.tif"),
                 "--dsm", str(tmp_path / "dsm.tif"), "--out", str(out), "--device", "cpu"]) == 0
    assert Image.open(out).mode == "P"                    # a palette map of the whole tile
    colours = np.asarray(Image.open(out).convert("RGB"))
    assert colours.shape == (70, 90, 3)
    assert {tuple(c) for c in colours.reshape(-1, 3)} <= {tuple(c) for c in PALETTE}

    # The trained seed again, its DSM missing: an image-only model cannot notice; metrics per tile, full maps.
    run_dir = checkpoint.parent
    assert main(["evaluate", "--run", "ms2mnet-rgb_only", *overrides, "eval.dsm=zero", "eval.save_maps=true"]) == 0
    zero = json.loads((run_dir / "robustness" / "zero.json").read_text())
    clean = json.loads((run_dir / "metrics.json").read_text())
    assert zero["dsm"] == "zero" and zero["miou"] == clean["miou"]
    assert zero["per_tile_confusion"] == clean["per_tile_confusion"]
    total = np.sum([np.asarray(m) for m in clean["per_tile_confusion"].values()], axis=0)
    assert total.tolist() == clean["confusion_matrix"]      # the per-tile matrices add up to the total
    maps = sorted((run_dir / "robustness" / "zero" / "maps").iterdir())
    assert [m.stem for m in maps] == sorted(clean["per_tile_confusion"])


def test_cli_run_params_trains_a_whole_pass_in_one_process(prepared, tmp_path, capsys):
    """`ms2mnet run --params params.yaml --params-section smoke` (the DVC smoke stage): every run x seed of the
    section under its profile; a refused run is named at the end and does not stop the others."""
    import yaml

    from ms2mnet.cli import main

    conf = tmp_path / "conf"
    (conf / "model").mkdir(parents=True)
    (conf / "model" / "tinyseg.yaml").write_text("name: tinyseg\nmodule: extra_models.tinyseg\n")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"dataset": "synthetic", "profile": "demo", "runs": ["ms2mnet-full"],
                                      "seeds": [0], "smoke": {"profile": "tiny", "seeds": [0, 1],
                                                              "runs": ["ms2mnet-nosuch", "tinyseg"]}}))
    overrides = [f"paths.prepared={prepared}", f"paths.runs={tmp_path / 'runs'}", "device=cpu",
                 f"hydra.searchpath=[file://{conf}]"]
    assert main(["run", "--params", str(params), "--params-section", "smoke", *overrides]) == 2
    runs = tmp_path / "runs" / "synthetic" / "tiny"
    assert sorted(p.name for p in runs.iterdir()) == ["tinyseg"]
    for seed in (0, 1):
        metrics = json.loads((runs / "tinyseg" / f"seed{seed}" / "metrics.json").read_text())
        assert (metrics["model"], metrics["seed"]) == ("tinyseg", seed)
    assert "2 of 4 runs refused: ms2mnet-nosuch seed 0, ms2mnet-nosuch seed 1" in capsys.readouterr().err
    assert main(["run", "--params", str(params), "--run", "tinyseg"]) == 2   # one or the other


def test_predict_names_a_missing_checkpoint(tmp_path, caplog):
    from ms2mnet.cli import main

    for name in ("a.tif", "b.tif"):
        (tmp_path / name).write_bytes(b"x")
    assert main(["predict", "--checkpoint", str(tmp_path / "none.pt"), "--image", str(tmp_path / "a.tif"),
                 "--dsm", str(tmp_path / "b.tif"), "--out", str(tmp_path / "c.png")]) == 2
    assert "none.pt: no such checkpoint" in caplog.text
