"""`ms2mnet bench ...` end to end on tiny inputs."""

import csv
import json

from ms2mnet.cli import main


def test_bench_flops_prints_and_writes_csv(tmp_path, capsys):
    out = tmp_path / "flops.csv"
    assert main(["bench", "flops", "--variant", "no_vfe", "--size", "32", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "GMACs (fvcore)" in printed and "| no_vfe |" in printed
    (row,) = csv.DictReader(out.open())
    assert row["variant"] == "no_vfe" and float(row["gmacs"]) > 0 and row["unknown_ops"] == "none"
    assert float(row["params_m_vfe"]) == 0.0


def test_bench_flops_aux_column(tmp_path, capsys):
    out = tmp_path / "flops.json"
    assert main(["bench", "flops", "--variant", "no_vfe", "--size", "32", "--aux", "--out", str(out)]) == 0
    assert "| variant | gmacs | gmacs_aux | params_m |" in capsys.readouterr().out
    (row,) = json.loads(out.read_text())
    assert row["gmacs_aux"] > row["gmacs"] > 0


def test_bench_scaling_writes_json(tmp_path):
    out = tmp_path / "scaling.json"
    argv = ["bench", "scaling", "--what", "mixers", "--mixers", "mssm", "--sizes", "32", "64", "--no-latency",
            "--out", str(out)]
    assert main(argv) == 0
    rows = json.loads(out.read_text())
    assert [(r["size"], r["level"]) for r in rows] == [(s, level) for s in (32, 64) for level in (1, 2, 3, 4)]


def test_bench_latency_refuses_amp_on_cpu():
    assert main(["bench", "latency", "--size", "32", "--runs", "1", "--amp"]) == 2
