"""Peak memory on the CPU, measured in a child process."""

from ms2mnet.bench.memory import measure_peak_memory
from ms2mnet.models import build_model


def test_cpu_peak_memory_sees_the_gradients_of_a_training_step():
    memory = measure_peak_memory("ms2mnet", "full", size=32)
    assert memory["measured"], memory.get("reason")
    params_mib = sum(p.numel() for p in build_model("ms2mnet", pretrained=False).parameters()) * 4 / 2**20
    assert memory["baseline_mib"] > params_mib                  # the child holds the built model
    assert 0 <= memory["forward_increment_mib"] < params_mib    # a 32x32 forward is small beside the weights
    assert memory["train_step_increment_mib"] > 0.9 * params_mib  # one gradient per weight is resident
    assert memory["device"] == "cpu" and memory["resolution"] == [32, 32]


def test_a_failing_child_is_reported_not_raised():
    memory = measure_peak_memory("ms2mnet", size=32, options={"no_such_option": 1})
    assert memory["measured"] is False and "no_such_option" in memory["reason"]
