import json

import pytest

from ms2mnet.cli import main

from .run_fixtures import write_run


def test_report_command(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_run(runs, "synthetic", "ms2mnet-full", 0, 0.80)
    write_run(runs, "synthetic", "ms2mnet-no_dfe", 0, 0.75)
    out = tmp_path / "reports"
    code = main(["report", "--dataset", "synthetic", "--profile", "smoke", "--runs-dir", str(runs),
                 "--prepared", str(tmp_path / "none"), "--out", str(out), "--runs", "ms2mnet-full", "ms2mnet-no_dfe", "--seeds", "0", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 runs x 2 seeds of synthetic (smoke profile), 2 missing" in printed and "note: Mixer scaling figure skipped" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tables"]["ablation"][0]["delta_miou_mean"] == -5.0
    assert "| no_dfe | 75.00 (n=1) | -5.00 (n=1) | n/a |" in (out / "README.md").read_text()


def test_report_command_fails_with_the_reason(tmp_path, caplog):
    code = main(["report", "--dataset", "synthetic", "--profile", "smoke", "--runs-dir", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--runs", "ms2mnet-full", "--seeds", "0", "--scaling", str(tmp_path / "absent.json")])
    assert code == 2
    assert "absent.json: no scaling file" in caplog.text


def test_params_file_gives_dataset_runs_and_seeds(tmp_path):
    from ms2mnet.cli.report import from_params

    params = tmp_path / "params.yaml"
    params.write_text("dataset: synthetic\nprofile: smoke\nruns: [ms2mnet-full, fusenet]\nseeds: [0, 1]\n")
    assert from_params(params) == ("synthetic", "smoke", ["ms2mnet-full", "fusenet"], [0, 1])
    params.write_text("dataset: synthetic\n")
    with pytest.raises(ValueError, match="runs"):
        from_params(params)


def _report(runs_dir, out, *extra) -> int:
    return main(["report", "--dataset", "synthetic", "--profile", "smoke", "--runs-dir", str(runs_dir),
                 "--prepared", str(runs_dir / "none"), "--out", str(out), "--runs", "ms2mnet-full", "--seeds", "0",
                 *extra])


def test_an_all_missing_report_does_not_replace_an_existing_one_unless_asked(tmp_path, caplog):
    runs, out = tmp_path / "runs", tmp_path / "reports"
    write_run(runs, "synthetic", "ms2mnet-full", 0, 0.80)
    assert _report(runs, out) == 0
    before = (out / "README.md").read_text()
    # a typo in the runs folder (or the profile) finds nothing: the good report is kept
    assert _report(tmp_path / "runz", out) == 2
    assert "refusing to replace" in caplog.text and "--allow-empty" in caplog.text
    assert (out / "README.md").read_text() == before
    assert _report(tmp_path / "runz", out, "--allow-empty") == 0
    assert "| missing |" in (out / "README.md").read_text()


def test_a_metrics_file_that_is_not_utf8_is_named_and_skipped(tmp_path, caplog):
    runs = tmp_path / "runs"
    folder = write_run(runs, "synthetic", "ms2mnet-full", 0, 0.80)
    write_run(runs, "synthetic", "ms2mnet-full", 1, 0.82)
    (folder / "metrics.json").write_bytes(b'{"miou": "\xff\xfe"}')
    code = main(["report", "--dataset", "synthetic", "--profile", "smoke", "--runs-dir", str(runs),
                 "--prepared", str(tmp_path / "none"), "--out", str(tmp_path / "reports"), "--runs", "ms2mnet-full",
                 "--seeds", "0", "1"])
    assert code == 0
    assert f"{folder / 'metrics.json'} (not UTF-8 text)" in caplog.text
    assert "82.00 (n=1)" in (tmp_path / "reports" / "README.md").read_text()
