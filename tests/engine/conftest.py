from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ms2mnet.data.fetch import fetch
from ms2mnet.data.prepare import prepare

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture(scope="session")
def prepared(tmp_path_factory) -> Path:
    """The default synthetic dataset, prepared once: returns data/prepared (holding synthetic/)."""
    root = tmp_path_factory.mktemp("data")
    fetch("synthetic", raw_root=root / "raw")
    prepare("synthetic", raw_root=root / "raw", out_root=root / "prepared")
    return root / "prepared"


@pytest.fixture
def tiny_config(prepared, tmp_path):
    """Compose the smoke profile cut down to seconds (32-pixel crops, 2 epochs of 3 iterations),
    reading the prepared synthetic data and writing runs under tmp_path."""
    return lambda *overrides: compose_config(
        f"paths.prepared={prepared}", f"paths.runs={tmp_path}", "device=cpu",
        "profile.train.crop=32", "profile.train.batch_size=2", "profile.train.epochs=2",
        "profile.train.iterations_per_epoch=3", "profile.train.milestones=[1]",
        "profile.train.checkpoint_every=2", "profile.train.log_every=1",
        "profile.eval.window=64", "profile.eval.stride=48", "profile.eval.batch_size=4",
        "profile.complexity.size=64", "profile.complexity.latency_runs=1", "profile.complexity.warmup=0",
        *overrides)


def compose_config(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))
