import json

import pytest

from ms2mnet.cli import main

from .run_fixtures import write_run


def test_report_command(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_run(runs, "synthetic", "ms2mnet-full", 0, 0.80)
    write_run(runs, "synthetic", "ms2mnet-no_dfe", 0, 0.75)
    out = tmp_path / "reports"
    code = main(["report", "--dataset", "synthetic", "--runs-dir", str(runs), "--prepared", str(tmp_path / "none"),
                 "--out", str(out), "--runs", "ms2mnet-full", "ms2mnet-no_dfe", "--seeds", "0", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 runs x 2 seeds of synthetic, 2 missing" in printed and "note: Mixer scaling figure skipped" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tables"]["ablation"][0]["delta_miou_mean"] == -5.0
    assert "| no_dfe | 75.00 (n=1) | -5.00 (n=1) | n/a |" in (out / "README.md").read_text()


def test_report_command_fails_with_the_reason(tmp_path, caplog):
    code = main(["report", "--dataset", "synthetic", "--runs-dir", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--runs", "ms2mnet-full", "--seeds", "0", "--scaling", str(tmp_path / "absent.json")])
    assert code == 2
    assert "absent.json: no scaling file" in caplog.text


def test_params_file_gives_dataset_runs_and_seeds(tmp_path):
    from ms2mnet.report.cli import from_params

    params = tmp_path / "params.yaml"
    params.write_text("dataset: synthetic\nprofile: smoke\nruns: [ms2mnet-full, fusenet]\nseeds: [0, 1]\n")
    assert from_params(params) == ("synthetic", ["ms2mnet-full", "fusenet"], [0, 1])
    params.write_text("dataset: synthetic\n")
    with pytest.raises(ValueError, match="runs"):
        from_params(params)
