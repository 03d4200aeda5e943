"""measure_complexity: the complexity.json record a run writes."""

import json

from ms2mnet.bench.complexity import measure_complexity
from ms2mnet.bench.flops import UNIT


def test_record_is_written_atomically_with_numbers_and_conditions(tmp_path, full_model, full_flops):
    out = tmp_path / "run" / "complexity.json"
    record = measure_complexity("ms2mnet", "full", size=32, latency_runs=1, latency_warmup=0,
                                throughput_batch=2, memory=False, out_path=out)
    assert json.loads(out.read_text()) == record
    assert [p.name for p in out.parent.iterdir()] == ["complexity.json"]  # no temporary file left behind
    assert record["unit"] == UNIT and record["gmacs"] == full_flops.gmacs
    assert record["unknown_ops"] == {} and "aten::softmax" in record["unsupported_ops"]
    assert record["params"]["total"] == sum(p.numel() for p in full_model.parameters())
    assert abs(sum(record["gmacs_by_group"].values()) - record["gmacs"]) < 1e-9
    assert record["gmacs_with_aux"] > record["gmacs"]  # the auxiliary heads, counted in train mode
    latency = record["latency"]
    assert latency["batch"] == 1 and latency["resolution"] == [32, 32] and latency["runs"] == 1
    assert latency["median_ms"] > 0 and latency["device"] == "cpu" and latency["threads"] >= 1
    assert record["throughput"]["batch"] == 2 and record["throughput"]["images_per_s"] > 0
    assert record["peak_memory"] == {"measured": False, "reason": "skipped (memory=False)"}
    assert record["torch"] and record["device_name"]


def test_one_process_measures_every_run_of_a_pass(tmp_path):
    """`ms2mnet complexity --params` (the DVC stages): each run of the section gets its own record in the
    pass's complexity folder, under the section's profile."""
    import yaml

    from ms2mnet.cli import main

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"dataset": "synthetic", "profile": "smoke", "runs": ["ms2mnet-full"],
                                      "seeds": [0], "smoke": {"profile": "tiny", "seeds": [0],
                                                              "runs": ["unetformer", "ms2mnet-no_mixer"]}}))
    assert main(["complexity", "--params", str(params), "--params-section", "smoke",
                 f"paths.runs={tmp_path / 'runs'}", "profile.complexity.aux=false"]) == 0
    folder = tmp_path / "runs" / "synthetic" / "tiny" / "complexity"
    assert sorted(p.name for p in folder.iterdir()) == ["ms2mnet-no_mixer.json", "unetformer.json"]
    record = json.loads((folder / "ms2mnet-no_mixer.json").read_text())
    assert (record["model"], record["variant"], record["latency"]["resolution"]) == ("ms2mnet", "no_mixer", [64, 64])
    assert json.loads((folder / "unetformer.json").read_text())["model"] == "unetformer"
