import json
import logging

import pytest

import ms2mnet.cli


@pytest.fixture(autouse=True)
def _data_commands_only(monkeypatch):
    # Test the data subcommands through the real entry point, independent of the other modules.
    monkeypatch.setattr(ms2mnet.cli, "COMMAND_MODULES", ["ms2mnet.cli.data"])


def test_data_commands_are_registered_in_the_entry_point():
    import importlib
    source = importlib.util.find_spec("ms2mnet.cli").loader.get_source("ms2mnet.cli")
    assert '"ms2mnet.cli.data"' in source


def test_fetch_then_prepare_synthetic_prints_a_summary(tmp_path, capsys):
    raw, out = str(tmp_path / "raw"), str(tmp_path / "out")
    assert ms2mnet.cli.main(["fetch", "synthetic", "--raw", raw, "--tiles", "3",
                             "--tile-size", "40x56", "--seed", "2"]) == 0
    assert ms2mnet.cli.main(["prepare", "synthetic", "--raw", raw, "--out", out]) == 0
    text = capsys.readouterr().out
    assert "synthetic: 3 tiles" in text and "classes (full labels" in text
    manifest = json.loads((tmp_path / "out/synthetic/manifest.json").read_text())
    assert manifest["tiles"]["area1"] == [40, 56] and manifest["dsm_scaling"] == "minmax"
    assert ms2mnet.cli.main(["prepare", "synthetic", "--raw", raw, "--out", out,
                             "--dsm-scaling", "percentile_minmax"]) == 0
    meta = json.loads((tmp_path / "out/synthetic/area1/meta.json").read_text())
    assert meta["dsm_normalisation"]["method"] == "percentile_minmax"
    with pytest.raises(SystemExit):
        ms2mnet.cli.main(["prepare", "synthetic", "--raw", raw, "--dsm-scaling", "clip"])
    assert json.loads((tmp_path / "raw/synthetic/synthetic.json").read_text())["seed"] == 2


def test_errors_end_with_their_message_and_exit_code_2(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        code = ms2mnet.cli.main(["prepare", "vaihingen", "--raw", str(tmp_path)])
    assert code == 2 and "ISPRS_semantic_labeling_Vaihingen.zip" in caplog.text
    assert ms2mnet.cli.main(["fetch", "potsdam", "--raw", str(tmp_path), "--tiles", "3"]) == 2
    assert ms2mnet.cli.main(["fetch", "vaihingen", "--raw", str(tmp_path), "--url", "oops"]) == 2


def test_bad_tile_size_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit):
        ms2mnet.cli.main(["fetch", "synthetic", "--raw", str(tmp_path), "--tile-size", "big"])
