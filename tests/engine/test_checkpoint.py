"""load_checkpoint: anything that is not one of our checkpoints ends in one line, and nothing is unpickled."""

import pickle
import subprocess
import sys

import pytest
import torch

from ms2mnet.cli import main
from ms2mnet.engine.checkpoint import RESUME_KEYS, CheckpointError, load_checkpoint, save_checkpoint


class Payload:
    """Unpickling it would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


def _write_bad(kind: str, path, tmp_path):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        save_checkpoint(path, model={"w": torch.ones(64)}, iteration=1)
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "missing keys":
        torch.save({"iteration": 3}, path)
    elif kind == "code":
        path.write_bytes(pickle.dumps({"model": Payload(tmp_path / "pwned")}, protocol=2))
    elif kind == "directory":
        path.mkdir()


BAD = {"empty": "empty file", "truncated": "truncated or not a torch file", "list": "holds a list",
       "missing keys": "keys model missing", "code": "objects other than tensors", "directory": "is a directory"}


@pytest.mark.parametrize("kind", BAD)
def test_bad_checkpoints_are_refused_in_one_line(kind, tmp_path):
    path = tmp_path / "checkpoint.pt"
    _write_bad(kind, path, tmp_path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert BAD[kind] in message and str(path) in message and "\n" not in message
    assert "weights_only" not in message.lower()
    assert not (tmp_path / "pwned").exists()


def test_a_checkpoint_lacking_what_resuming_needs_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model={"w": torch.ones(2)})
    assert set(load_checkpoint(path)) == {"model", "rng"}
    with pytest.raises(CheckpointError, match="keys optimizer, scheduler, scaler, iteration missing"):
        load_checkpoint(path, require=RESUME_KEYS)


@pytest.mark.parametrize("kind", ["code", "truncated", "directory"])
def test_predict_prints_one_line_for_a_bad_checkpoint(kind, tmp_path, caplog):
    path = tmp_path / "checkpoint.pt"
    _write_bad(kind, path, tmp_path)
    (tmp_path / "top.tif").write_bytes(b"x")
    (tmp_path / "dsm.tif").write_bytes(b"x")
    code = main(["predict", "--checkpoint", str(path), "--image", str(tmp_path / "top.tif"),
                 "--dsm", str(tmp_path / "dsm.tif"), "--out", str(tmp_path / "out.png")])
    assert code == 2
    assert BAD[kind] in caplog.text and "weights_only" not in caplog.text
    assert not (tmp_path / "pwned").exists()


def test_predict_checks_its_paths_before_any_work(tmp_path, caplog):
    (tmp_path / "top.tif").write_bytes(b"x")
    (tmp_path / "dsm.tif").mkdir()
    (tmp_path / "a_file").write_bytes(b"x")
    args = ["predict", "--checkpoint", str(tmp_path / "absent.pt"), "--image", str(tmp_path / "top.tif")]
    assert main([*args, "--dsm", str(tmp_path / "dsm.tif"), "--out", str(tmp_path / "o.png")]) == 2
    assert "dsm.tif: is a directory; expected the DSM file" in caplog.text
    caplog.clear()
    # unwritable output: refused before the checkpoint is even read (it does not exist here)
    (tmp_path / "dsm.tif").rmdir()
    (tmp_path / "dsm.tif").write_bytes(b"x")
    assert main([*args, "--dsm", str(tmp_path / "dsm.tif"), "--out", str(tmp_path / "a_file" / "o.png")]) == 2
    assert "a_file/o.png: cannot write there" in caplog.text and "absent.pt" not in caplog.text
    caplog.clear()
    assert main([*args, "--dsm", str(tmp_path / "dsm.tif"), "--out", str(tmp_path)]) == 2
    assert "is a directory; give a file name for the output" in caplog.text


def test_cli_subprocess_shows_no_traceback(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save([1, 2], path)
    result = subprocess.run([sys.executable, "-m", "ms2mnet.cli", "predict", "--checkpoint", str(path),
                             "--image", str(path), "--dsm", str(path), "--out", str(tmp_path / "o.png")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "holds a list" in result.stderr
