"""Issue 22: no silent loss under concurrency, bad numbers or corrupt inputs; one line for every refusal.

The app is called in-process (`ms2mnet.app.main(argv)` returns the exit code) on the two-layer test model;
only the concurrency case starts a second, real process.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ms2mnet import app
from ms2mnet.app import compose_config
from ms2mnet.engine.checkpoint import load_checkpoint, save_checkpoint
from ms2mnet.engine.fingerprint import ResumeMismatchError
from ms2mnet.experiment import run
from ms2mnet.validation import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"          # holds extra_models/tinyseg.py


@pytest.fixture(scope="module")
def conf(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("conf")
    (folder / "model").mkdir()
    (folder / "model" / "tinyseg.yaml").write_text("name: tinyseg\nmodule: extra_models.tinyseg\n")
    return folder


def overrides(prepared, runs, conf, *more) -> list[str]:
    return ["model=tinyseg", f"hydra.searchpath=[file://{conf}]", f"paths.prepared={prepared}",
            f"paths.runs={runs}", "device=cpu", "profile=tiny", *more]


@pytest.fixture(scope="module")
def finished(prepared, conf, tmp_path_factory) -> Path:
    """One finished tinyseg run (selection=last); returns its runs folder. Tests copy it before changing it."""
    runs = tmp_path_factory.mktemp("finished")
    run(compose_config(*overrides(prepared, runs, conf)))
    return runs


def seed_dir(runs: Path) -> Path:
    return runs / "synthetic" / "tiny" / "tinyseg" / "seed0"


def refused(argv, capsys) -> str:
    """The one line the app prints for a refusal (exit code 2), checked."""
    capsys.readouterr()
    assert app.main("baselines", argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------ case 1: a lock per run folder

def test_a_second_run_into_a_busy_folder_is_refused_naming_the_holder(prepared, conf, tmp_path, capsys):
    first = subprocess.Popen(
        [sys.executable, str(REPO / "baselines" / "run.py"),
         *overrides(prepared, tmp_path, conf, "profile.train.epochs=100000", "profile.train.lr=0.01")],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "first.log").open("w"))
    try:
        holder = seed_dir(tmp_path) / ".lock.holder"
        deadline = time.monotonic() + 120
        while not (holder.is_file() and (seed_dir(tmp_path) / "config.yaml").is_file()):   # it is training
            assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-2000:]
            time.sleep(0.1)
        err = refused(overrides(prepared, tmp_path, conf, "profile.train.lr=0.05"), capsys)
        assert f"in use by pid {first.pid} on " in err and "training tinyseg seed 0" in err
        saved = (seed_dir(tmp_path) / "config.yaml").read_text()
        assert "lr: 0.01" in saved and "lr: 0.05" not in saved      # the second run wrote nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    from ms2mnet.data.locks import exclusive

    with exclusive(seed_dir(tmp_path), "after a kill -9", wait=False):   # the kernel released the lock
        pass


# ------------------------------------------------------------------ case 2: numbers

@pytest.mark.parametrize("override, message", [
    ("profile.train.lr=nan", "profile.train.lr=nan must be a finite number > 0"),
    ("profile.train.lr=inf", "profile.train.lr=inf must be a finite number > 0"),
    ("profile.train.weight_decay=-inf", "profile.train.weight_decay=-inf must be a finite number >= 0"),
    ("profile.train.momentum=1.5", "profile.train.momentum=1.5 must be a finite number >= 0 and < 1"),
    ("profile.train.gamma=2", "profile.train.gamma=2 must be a finite number > 0 and <= 1"),
    ("profile.eval.tta=maybe", "profile.eval.tta='maybe' must be true or false"),
    ("resume=yes", "resume='yes' must be true or false"),
    ("device=tpu", "device='tpu' must be auto, cpu, cuda or cuda:N"),
])
def test_every_number_is_finite_and_in_range(override, message):
    with pytest.raises(ConfigError, match="invalid config") as info:
        validate_config(compose_config("profile=tiny", override))
    assert message in str(info.value)


def test_a_diverged_training_keeps_no_checkpoint_with_nan_weights(prepared, conf, tmp_path, monkeypatch):
    """lr=nan slipping past validation: the first step makes every weight NaN; that checkpoint is not written,
    and the message does not claim a good one is kept."""
    from ms2mnet import experiment
    from ms2mnet.engine.trainer import NonFiniteLossError

    monkeypatch.setattr(experiment, "validate_config", lambda cfg: None)
    cfg = compose_config(*overrides(prepared, tmp_path, conf, "profile.train.lr=nan",
                                    "profile.train.checkpoint_every=1"))
    with pytest.raises(NonFiniteLossError, match="no checkpoint with finite weights was saved"):
        run(cfg)
    assert not (seed_dir(tmp_path) / "checkpoint.pt").exists()


def test_predict_refuses_nan_weights(finished, tmp_path, caplog):
    import tifffile

    from ms2mnet.cli import main

    state = load_checkpoint(seed_dir(finished) / "checkpoint.pt")
    state["model"]["body.0.weight"][0, 0, 0, 0] = float("nan")
    state.pop("rng")
    save_checkpoint(tmp_path / "nan.pt", **state)
    tifffile.imwrite(tmp_path / "top.tif", np.zeros((20, 30, 3), np.uint8))
    tifffile.imwrite(tmp_path / "dsm.tif", np.ones((20, 30), np.float32))
    assert main(["predict", "--checkpoint", str(tmp_path / "nan.pt"), "--image", str(tmp_path / "top.tif"),
                 "--dsm", str(tmp_path / "dsm.tif"), "--out", str(tmp_path / "out.png"), "--device", "cpu"]) == 2
    assert "nan.pt: 1 of 4 tensors hold NaN or infinity (e.g. body.0.weight)" in caplog.text
    assert not (tmp_path / "out.png").exists()


# ------------------------------------------------------------------ cases 5 and 7: what a rerun compares

def test_a_finished_run_is_not_relabelled_by_another_selection_or_other_data(finished, prepared, conf, tmp_path):
    """Case 5: selection=last rerun with selection=test_best (no epoch was judged); case 7: rerun with
    paths.prepared pointing at other data. Both refuse and leave metrics.json as it was."""
    runs = tmp_path / "runs"
    shutil.copytree(finished, runs)
    before = (seed_dir(runs) / "metrics.json").read_text()
    with pytest.raises(ResumeMismatchError, match="selection \\('last' -> 'test_best'\\)"):
        run(compose_config(*overrides(prepared, runs, conf, "selection=test_best")))

    other = tmp_path / "other"
    shutil.copytree(prepared, other)
    manifest = json.loads((other / "synthetic" / "manifest.json").read_text())
    meta = json.loads((other / "synthetic" / "area1" / "meta.json").read_text())
    meta["signature"] = manifest["signatures"]["area1"] = "0" * 16       # another source for one tile
    (other / "synthetic" / "manifest.json").write_text(json.dumps(manifest))
    (other / "synthetic" / "area1" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ResumeMismatchError, match="data \\("):
        run(compose_config(*overrides(other, runs, conf)))
    assert (seed_dir(runs) / "metrics.json").read_text() == before


def test_a_rerun_clears_stale_temporaries_and_repeated_steps(finished, prepared, conf, tmp_path):
    """Temporaries of a killed write are removed; curve steps after the checkpoint's iteration (logged by a
    run killed before its next checkpoint) are dropped when the run continues."""
    runs = tmp_path / "runs"
    shutil.copytree(finished, runs)
    folder = seed_dir(runs)
    stale = [folder / ".test_best.pt.tmp-99999", folder / ".metrics.json.tmp-99999", folder / ".checkpoint.pt.tmp-1"]
    for path in stale:
        path.write_bytes(b"partial")
    loss = folder / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv"
    rows = [line.split("\t") for line in loss.read_text().splitlines()]
    step = rows[0].index("step")
    rows.append([("7" if i == step else value) for i, value in enumerate(rows[-1])])   # a step past the end
    loss.write_text("".join("\t".join(row) + "\n" for row in rows))
    run(compose_config(*overrides(prepared, runs, conf)))
    assert not any(path.exists() for path in stale)
    steps = [line.split("\t")[step] for line in loss.read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4", "5", "6"]


# ------------------------------------------------------------------ one line, exit code 2, nothing left

def _corrupt_prepared(prepared, tmp_path, change) -> Path:
    other = tmp_path / "prepared"
    shutil.copytree(prepared, other)
    change(other / "synthetic")
    return other


def _npy(tile, name, make):
    def change(root):
        np.save(root / tile / f"{name}.npy", make(np.load(root / tile / f"{name}.npy")))
    return change


def _write(name, content):
    return lambda root: (root / name).write_bytes(content(root / name))


DATA_CASES = {
    "label shape": (_npy("area1", "label", lambda a: a[:, :-2]), "area1/label.npy: uint8 of shape"),
    "label values": (_npy("area5", "label_eroded", lambda a: np.where(a == 2, 9, a).astype(np.uint8)),
                     "area5/label_eroded.npy: values 9 are no class"),
    "manifest list": (_write("manifest.json", lambda p: b"[]"), "manifest.json: holds a JSON list"),
    "npy truncated": (_write("area3/image.npy", lambda p: p.read_bytes()[:-64]),
                      "area3/image.npy: truncated or not a .npy array"),
}   # the other kinds of bad prepared data: tests/data/test_prepared_checks.py, on the store


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_prepared_data_is_one_line_and_leaves_no_run_folder(case, prepared, conf, tmp_path, capsys):
    change, message = DATA_CASES[case]
    data = _corrupt_prepared(prepared, tmp_path, change)
    err = refused(overrides(data, tmp_path / "runs", conf), capsys)
    assert message in err and "prepare synthetic" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("override, message", [
    ("profile.train.crop=100000", "profile.train.crop=100000 is over twice the largest train tile's side"),
    ("profile.eval.window=100000", "profile.eval.window=100000 is over twice the largest test tile's side"),
    ("profile.train.lr=nan", "profile.train.lr=nan must be a finite number"),
    pytest.param("device=cuda", "device=cuda but CUDA is not available here", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="a GPU is here")),
])
def test_refused_configs_are_one_line_and_leave_no_run_folder(override, message, prepared, conf, tmp_path, capsys):
    err = refused(overrides(prepared, tmp_path / "runs", conf, override), capsys)
    assert message in err
    assert not (tmp_path / "runs").exists()


def test_unknown_variant_is_one_line_before_hydra_makes_a_folder(prepared, tmp_path, capsys):
    capsys.readouterr()
    assert app.main("config", ["variant=nosuch", f"paths.runs={tmp_path / 'runs'}", "device=cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown variant 'nosuch' of ms2mnet; valid variants: full, no_vfe")
    assert not (tmp_path / "runs").exists()


def test_unwritable_runs_or_seed_folder_is_one_line(prepared, conf, tmp_path, capsys):
    """As root a chmod does not stop writes: a file where a folder must go fails Hydra's set-up alike."""
    (tmp_path / "file").write_text("x")
    err = refused(overrides(prepared, tmp_path / "file" / "runs", conf), capsys)
    assert "file/runs" in err and ("Not a directory" in err or "File exists" in err)
    seed = seed_dir(tmp_path / "runs")
    seed.parent.mkdir(parents=True)
    seed.write_text("not a folder")
    err = refused(overrides(prepared, tmp_path / "runs", conf), capsys)
    assert "seed0" in err
    assert seed.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a chmod (the test above stands in)")
def test_a_read_only_runs_folder_is_one_line(prepared, conf, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o555)
    try:
        assert "Permission denied" in refused(overrides(prepared, runs, conf), capsys)
        assert list(runs.iterdir()) == []
    finally:
        runs.chmod(0o755)


def test_a_checkpoint_of_another_shape_is_one_line(finished, prepared, conf, tmp_path, capsys):
    """Our keys and fingerprint, tensors of another shape: refused before anything is written."""
    runs = tmp_path / "runs"
    seed_dir(runs).mkdir(parents=True)
    state = load_checkpoint(seed_dir(finished) / "checkpoint.pt")
    state["model"]["body.0.weight"] = torch.zeros(5, 4, 3, 3)
    state.pop("rng")
    save_checkpoint(seed_dir(runs) / "checkpoint.pt", **state)
    err = refused(overrides(prepared, runs, conf), capsys)
    assert "checkpoint.pt: its weights do not fit the configured model" in err and "body.0.weight (5, 4, 3, 3)" in err
    written = [p.name for p in seed_dir(runs).iterdir() if p.suffix != ".log" and not p.name.startswith(".lock")]
    assert written == ["checkpoint.pt"]    # Hydra's log and the folder's lock aside


def test_the_traceback_stays_behind_hydra_full_error(prepared, conf, tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):
        app.main("baselines", overrides(prepared, tmp_path / "runs", conf, "resume=yes"))
