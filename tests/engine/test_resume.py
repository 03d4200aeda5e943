"""Resume: only a checkpoint trained with the same settings is continued; stale temporaries are cleared."""

import pytest
import yaml

from ms2mnet.engine.checkpoint import load_checkpoint
from ms2mnet.engine.fingerprint import (ResumeMismatchError, check_fingerprint, code_digest, differences,
                                       training_fingerprint)
from ms2mnet.experiment import complete_model_config, run


@pytest.fixture
def tinyseg(tiny_config, tmp_path_factory):
    """tiny_config for the two-layer test model (tests/extra_models/tinyseg.py): a resume test in seconds,
    not minutes of writing 380 MB MS2MNet checkpoints."""
    conf = tmp_path_factory.mktemp("conf")
    (conf / "model").mkdir()
    (conf / "model" / "tinyseg.yaml").write_text("name: tinyseg\nmodule: extra_models.tinyseg\n")
    return lambda *overrides: tiny_config("model=tinyseg", f"hydra.searchpath=[file://{conf}]", *overrides)


def test_fingerprint_holds_what_shapes_training_and_not_evaluation(tiny_config):
    cfg = tiny_config("variant=no_dfe")
    complete_model_config(cfg)
    fp = training_fingerprint(cfg)
    assert fp["profile.train.lr"] == 0.01 and fp["profile.train.epochs"] == 2 and fp["seed"] == 0
    assert fp["variant"] == "no_dfe" and fp["model.name"] == "ms2mnet" and fp["dataset.name"] == "synthetic"
    assert fp["model.loss"] == "paper" and fp["model.loss_weights.focal"] == 0.6
    assert fp["model.aux_weights"] == [0.3, 0.2] and fp["dataset.dsm_scaling"] is None   # set by run()
    assert not any(key.startswith("profile.eval") for key in fp)
    assert not {"profile.train.num_workers", "profile.train.checkpoint_every", "profile.train.log_every"} & set(fp)

    other = tiny_config("variant=no_dfe", "profile.eval.stride=8", "profile.train.checkpoint_every=1")
    complete_model_config(other)
    assert training_fingerprint(other) == fp


def test_code_digest_follows_the_models_package(tmp_path, monkeypatch):
    package = tmp_path / "digest_models"
    package.mkdir()
    (package / "net.py").write_text("WIDTH = 8\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = code_digest("digest_models.net")
    assert code_digest("digest_models.net") == before and len(before) == 16
    (package / "blocks.py").write_text("DEPTH = 2\n")      # a module beside it counts too
    after = code_digest("digest_models.net")
    assert after != before
    (package / "net.py").write_text("WIDTH = 16\n")
    assert code_digest("digest_models.net") != after


def test_differences_name_each_key_old_to_new(tmp_path):
    old = {"profile.train.lr": 0.01, "profile.train.epochs": 2, "seed": 0}
    new = {"profile.train.lr": 0.05, "profile.train.epochs": 4, "seed": 0, "model.options.depth": 3}
    assert differences(old, new) == ["model.options.depth ('(unset)' -> 3)", "profile.train.epochs (2 -> 4)",
                                     "profile.train.lr (0.01 -> 0.05)"]
    check_fingerprint(old, dict(old), tmp_path / "checkpoint.pt")
    with pytest.raises(ResumeMismatchError, match="no training fingerprint"):
        check_fingerprint(None, new, tmp_path / "checkpoint.pt")


def test_a_changed_config_is_refused_before_training_and_eval_changes_resume(tinyseg, tmp_path):
    tiny_config = tinyseg
    run(tiny_config("profile.train.epochs=1"))
    run_dir = tmp_path / "synthetic" / "tiny" / "tinyseg" / "seed0"
    checkpoint = run_dir / "checkpoint.pt"
    saved = load_checkpoint(checkpoint)
    assert saved["fingerprint"]["profile.train.lr"] == 0.01 and saved["iteration"] == 3
    config_before, checkpoint_before = (run_dir / "config.yaml").read_text(), checkpoint.read_bytes()

    with pytest.raises(ResumeMismatchError) as info:
        run(tiny_config("profile.train.epochs=2", "profile.train.lr=0.05"))
    message = str(info.value)
    assert "profile.train.epochs (1 -> 2)" in message and "profile.train.lr (0.01 -> 0.05)" in message
    assert "resume=false" in message and "another run folder" in message and "\n" not in message
    # nothing was touched: config.yaml still says what the checkpoint was trained with
    assert (run_dir / "config.yaml").read_text() == config_before
    assert checkpoint.read_bytes() == checkpoint_before

    # another evaluation stride reuses the trained checkpoint: no training step is taken
    metrics = run(tiny_config("profile.train.epochs=1", "profile.eval.stride=32"))
    assert metrics["eval_stride"] == 32 and load_checkpoint(checkpoint)["iteration"] == 3

    # resume=false starts over with the new settings
    run(tiny_config("profile.train.epochs=2", "profile.train.lr=0.05", "resume=false"))
    assert load_checkpoint(checkpoint)["fingerprint"]["profile.train.lr"] == 0.05
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["profile"]["train"]["lr"] == 0.05


def test_profile_is_part_of_the_run_folder(tiny_config, tmp_path):
    from ms2mnet.experiment import run_dir_of

    assert run_dir_of(tiny_config("seed=2")) == tmp_path / "synthetic" / "tiny" / "ms2mnet-full" / "seed2"
    assert run_dir_of(tiny_config("profile=smoke")) == tmp_path / "synthetic" / "smoke" / "ms2mnet-full" / "seed0"


def test_stale_temporaries_are_removed_on_resume(tinyseg, tmp_path):
    tiny_config = tinyseg
    run_dir = tmp_path / "synthetic" / "tiny" / "tinyseg" / "seed0"
    run_dir.mkdir(parents=True)
    stale = run_dir / ".checkpoint.pt.tmp-999999"      # what a kill -9 during a save leaves
    stale.write_bytes(b"half a checkpoint")
    run(tiny_config("profile.train.epochs=1"))
    assert not stale.exists()
    assert sorted(p.name for p in run_dir.glob(".*")) == [".lock", ".lock.holder"]   # the run folder's lock
