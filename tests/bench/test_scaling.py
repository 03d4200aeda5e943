"""Scaling sweeps: one row per measurement, the VFE levels' shapes, and the latency guard."""

from ms2mnet.bench.scaling import VFE_LEVELS, mixer_sweep, model_sweep


def test_vfe_levels_follow_the_model():
    assert VFE_LEVELS == ((64, 16, 2), (256, 24, 4), (512, 28, 8), (1024, 32, 16))


def test_mixer_sweep_rows_grow_with_the_tokens():
    rows = list(mixer_sweep([32, 64], mixers=["mssm", "attention"], latency=False))
    assert len(rows) == 2 * 2 * len(VFE_LEVELS)
    by_key = {(r["name"], r["size"], r["level"]): r for r in rows}
    first = by_key["mssm", 64, 1]
    assert (first["channels"], first["state_size"], first["side"], first["tokens"]) == (64, 16, 32, 1024)
    assert all(r["median_ms"] is None and "FLOPs only" in r["latency_note"] for r in rows)
    assert all(r["unknown_ops"] == "" for r in rows)
    for level in range(1, len(VFE_LEVELS) + 1):
        # quadratic attention grows faster than MSSM at every level; the exact 4x/16x growth of the
        # mixers alone is tested in tests/models/test_mssm.py
        growth = {name: by_key[name, 64, level]["gmacs"] / by_key[name, 32, level]["gmacs"]
                  for name in ("mssm", "attention")}
        assert 1 < growth["mssm"] < growth["attention"] <= 16

def test_latency_is_timed_below_the_limit_and_skipped_above():
    rows = list(mixer_sweep([32], mixers=["mssm"], runs=2, warmup=0, max_latency_gmacs=0.01))
    timed = [r for r in rows if r["gmacs"] <= 0.01]
    skipped = [r for r in rows if r["gmacs"] > 0.01]
    assert timed and skipped  # MSSM at 32x32: levels 1-2 below 0.01 GMACs, levels 3-4 above
    assert all(r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] for r in timed)
    assert all(r["median_ms"] is None and r["latency_note"].startswith("skipped") for r in skipped)

def test_model_sweep_counts_each_size():
    rows = list(model_sweep([32, 64], variants=["no_vfe"], latency=False))
    assert [(r["name"], r["size"]) for r in rows] == [("ms2mnet/no_vfe", 32), ("ms2mnet/no_vfe", 64)]
    # 4x the pixels: at most 4x the MACs (no quadratic term without VFE), more than 2x (convolutions dominate)
    assert 2 < rows[1]["gmacs"] / rows[0]["gmacs"] <= 4
