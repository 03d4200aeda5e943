"""`ms2mnet weights list|fetch` and the safe reading of weights files, against a local HTTP server."""

from __future__ import annotations

import dataclasses
import io
import os
import sys
from pathlib import Path

import pytest
import torch
from yacs.config import CfgNode

from ms2mnet.cli import main
from ms2mnet.data.download import DownloadError
from ms2mnet.models import WeightFile, get_model
from ms2mnet.weights import WeightsError, check, read_checkpoint, resolve, sha256_of
from ms2mnet.weights.fetch import fetch_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data import servers  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    srv = servers.start("files")
    yield srv
    servers.stop(srv)


def weights_bytes(seed: int = 0, size: int = 300_000) -> bytes:
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save({"conv1.weight": torch.randn(size // 4)}, buffer)
    return buffer.getvalue()


def declared(url: str, data: bytes | None, **fields) -> WeightFile:
    return WeightFile(initialises="a trunk", file="trunk-0000.pth", source="a test", url=url, format="a state dict",
                      sha256=None if data is None else __import__("hashlib").sha256(data).hexdigest()[:8],
                      keys=("conv1.weight",), **fields)


def test_an_interrupted_download_resumes_and_is_checked(server, tmp_path):
    data = weights_bytes()
    server.files["w.pth"], server.cut_after = data, 100_000
    decl = declared(f"{server.url}/w.pth", data)
    with pytest.raises(DownloadError, match="got 100000 of"):
        fetch_file(decl, tmp_path)
    assert not (tmp_path / decl.file).exists()
    state = fetch_file(decl, tmp_path)
    assert state.status == "present" and state.sha256 == sha256_of(tmp_path / decl.file)
    assert server.requests[-1]["range"] == "bytes=100000-"
    assert sorted(p.name for p in tmp_path.iterdir()) == [decl.file]


def test_a_wrong_hash_is_refused_and_nothing_is_left(server, tmp_path):
    server.files["w.pth"] = weights_bytes(seed=1)
    decl = declared(f"{server.url}/w.pth", weights_bytes(seed=2))
    with pytest.raises(DownloadError, match="expected .*deleted"):
        fetch_file(decl, tmp_path / "weights")
    assert list((tmp_path / "weights").iterdir()) == []


def test_an_html_error_page_is_never_saved(tmp_path):
    srv = servers.start("html")
    try:
        with pytest.raises(DownloadError, match="HTML page.*Nothing was saved"):
            fetch_file(declared(f"{srv.url}/w.pth", None), tmp_path)
    finally:
        servers.stop(srv)
    assert list(tmp_path.iterdir()) == []


def test_a_hand_placed_file_counts_by_hash_or_without_one_by_structure(tmp_path):
    data = weights_bytes()
    (tmp_path / "trunk-0000.pth").write_bytes(data)
    assert check(declared(None, data), tmp_path).status == "present"
    assert check(declared(None, weights_bytes(seed=3)), tmp_path).status == "wrong hash"
    assert check(declared(None, None), tmp_path).status == "present"            # holds conv1.weight
    other = dataclasses.replace(declared(None, None), keys=("layers.0.blocks.0.norm.weight",))
    assert check(other, tmp_path).status == "wrong file"
    with pytest.raises(WeightsError, match="wrong hash"):                      # never overwritten
        fetch_file(declared("http://127.0.0.1:9/none", weights_bytes(seed=3)), tmp_path)


def test_a_stored_config_object_is_read_as_data_and_other_classes_are_refused(tmp_path):
    config = CfgNode()
    config.MODEL = CfgNode()
    config.MODEL.NAME = "vssm_tiny"
    torch.save({"model": {"w": torch.ones(2)}, "config": config, "epoch": 292}, tmp_path / "vmamba.pth")
    checkpoint = read_checkpoint(tmp_path / "vmamba.pth")
    assert checkpoint["config"] == {"MODEL": {"NAME": "vssm_tiny"}} and type(checkpoint["config"]) is dict
    assert torch.equal(checkpoint["model"]["w"], torch.ones(2))
    torch.save({"model": {"w": torch.ones(2)}, "payload": Payload()}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="getcwd.*not read"):
        read_checkpoint(tmp_path / "other.pth")


class Payload:
    """Unpickling this calls a function: a harmless stand-in for code a checkpoint could smuggle in."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_list_on_a_fresh_clone_names_every_default_runs_files_as_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected = {(m, d.file) for m in ("ms2mnet", "fusenet", "vfusenet", "cmfnet", "esanet", "cmgfnet", "unetformer",
                                      "ftransunet", "rs3mamba") for d in get_model(m).weights}
    assert {tuple(line.split()[:2]) for line in lines} == expected
    for line in lines:
        model, file = line.split()[:2]
        decl = next(d for d in get_model(model).weights if d.file == file)
        assert " missing " in line and line.endswith(decl.url or decl.manual)


def test_a_model_defined_outside_the_suite_is_found_through_its_module(tmp_path, capsys, monkeypatch):
    """params.yaml may list a user's model (conf/model/<name>.yaml with `module:`): the weights stage imports
    the module, as a run does, instead of calling the model unknown."""
    import shutil

    from ms2mnet import app

    conf = tmp_path / "conf"
    shutil.copytree(app.CONF_DIR, conf)
    (conf / "model" / "tinyseg.yaml").write_text("name: tinyseg\nmodule: extra_models.tinyseg\n")
    monkeypatch.setattr(app, "CONF_DIR", conf)
    monkeypatch.syspath_prepend(str(REPO / "tests"))
    (tmp_path / "params.yaml").write_text("runs: [tinyseg]\nsmoke: {profile: smoke, runs: [tinyseg], seeds: [0]}\n")
    assert main(["weights", "list", "--params", str(tmp_path / "params.yaml")]) == 0
    assert capsys.readouterr().out.strip() == "tinyseg: declares no pretrained weights"
    assert main(["weights", "fetch", "--profile", "paper", "--params", str(tmp_path / "params.yaml"),
                 "--dir", str(tmp_path / "w")]) == 0


def test_offline_fetch_gives_one_line_per_missing_file_with_its_address(tmp_path, capsys):
    assert main(["weights", "fetch", "esanet", "--dir", str(tmp_path / "w")]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "r34_NBt1D.pth" in out[0] and "drive.google.com" in out[0]


def test_resolve_refuses_in_one_line_naming_the_files_and_the_command(tmp_path):
    with pytest.raises(WeightsError) as err:
        resolve("rs3mamba", tmp_path)
    message = str(err.value)
    assert "\n" not in message and "vmamba_tiny_e292.pth" in message and "118f1556" in message
    assert "ms2mnet weights fetch rs3mamba" in message


def test_the_runbook_table_is_generated_from_the_registrations():
    from ms2mnet.cli.weights import TABLE_END, TABLE_START, weights_table

    text = (REPO / "docs" / "reproduce.md").read_text()
    assert f"{TABLE_START}\n{weights_table()}\n{TABLE_END}" in text, \
        "run `ms2mnet weights table --update docs/reproduce.md`"


def test_the_pipeline_fetches_weights_before_the_runs():
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    out = stages["weights"]["outs"][0]["weights"]
    assert out == {"cache": False, "persist": True} and "--profile ${profile}" in stages["weights"]["cmd"]
    assert "weights" in stages["run"]["deps"]


@pytest.mark.parametrize("overrides, wanted", [(["profile=paper"], True), (["profile=authors"], True),
                                               (["profile=smoke"], False), (["profile=tiny"], False),
                                               (["profile=paper", "model.pretrained=false"], False)])
def test_the_profile_decides_unless_the_model_says(overrides, wanted):
    from ms2mnet.app import compose_config
    from ms2mnet.experiment import wants_pretrained

    assert wants_pretrained(compose_config("model=fusenet", *overrides)) is wanted


def test_a_path_as_model_pretrained_is_refused_with_the_way_out():
    from ms2mnet.app import compose_config
    from ms2mnet.experiment import wants_pretrained

    with pytest.raises(WeightsError, match="model.pretrained='w.pth': use true .*paths.weights"):
        wants_pretrained(compose_config("model.pretrained=w.pth"))
