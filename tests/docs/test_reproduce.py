"""docs/reproduce.md: every fenced `bash` block (not `bash notest`) runs, in order, in one shell.

Fast: as written (Vaihingen, the paper profile), with `ms2mnet` recording its arguments instead of
running; every recorded command line must parse and every run must compose its configuration.
Slow: for real, with the settings block overridden to synthetic data, the tiny profile and one seed.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ms2mnet.app import compose_config
from ms2mnet.cli import build_parser
from ms2mnet.cli.run import run_overrides
from ms2mnet.models import get_model, list_models

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reproduce.md"
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.S | re.M)
SETTINGS = ("DATASET", "PROFILE", "SEEDS", "BASELINES", "ABLATIONS", "NGPU", "BENCH_TRAIN_OPTIONS")

# SLURM stand-in: runs each array task of `sbatch --array=A-B SCRIPT` in turn, as a fresh bash would.
FAKE_SBATCH = """
sbatch() {
  local range=${1#--array=}; shift
  for ((task = ${range%-*}; task <= ${range#*-}; task++)); do SLURM_ARRAY_TASK_ID=$task bash "$@"; done
}
"""
# One write per call: the parallel workers of section 8 record at the same time.
RECORDER = 'ms2mnet() { printf "%s\\n" "$(printf "%q " "$@")" >> "$CALLS"; }\nexport -f ms2mnet\n'
REAL = 'ms2mnet() { "$PYTHON" -m ms2mnet.cli "$@"; }\nexport -f ms2mnet\n'


def bash_blocks() -> list[str]:
    return [body for lang, info, body in FENCE.findall(DOC.read_text()) if lang == "bash" and "notest" not in info]


def doc_script(prelude: str, overrides: str = "") -> str:
    """The blocks as one script: the settings block first, then `overrides`, then the rest."""
    settings, *rest = bash_blocks()
    return "\n".join(["set -eo pipefail", prelude, FAKE_SBATCH, settings, overrides, *rest])


def run_script(script: str, cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    for folder in ("slurm", "benchmarks"):   # the doc runs from the clone's root
        (cwd / folder).symlink_to(REPO / folder)
    env = {**os.environ, "CALLS": str(cwd / "calls.txt"), "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_settings_block_comes_first_and_sets_what_the_tests_override():
    settings = bash_blocks()[0]
    assert settings.startswith("# settings")
    assigned = set(re.findall(r"^(?:declare -A )?([A-Z_]+)=", settings, re.M))
    assert assigned == set(SETTINGS), "the slow test overrides exactly these; update SETTINGS with the doc"


def test_every_registered_model_is_in_the_runbook():
    text = DOC.read_text()
    # The suite's own models (other tests register throwaway ones in this process).
    ours = [m for m in list_models() if get_model(m).module.startswith(("ms2mnet.", "baselines"))]
    missing = [m for m in ours if not re.search(rf"\b{m}\b", text)]
    assert not missing, f"docs/reproduce.md does not say how to run {missing}"


def test_commands_as_written_parse_and_compose(tmp_path):
    result = run_script(doc_script(RECORDER), tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    calls = [shlex.split(line) for line in (tmp_path / "calls.txt").read_text().splitlines()]
    parser, registered = build_parser(), list_models()
    composed, commands = set(), set()
    for argv in calls:
        args = parser.parse_args(argv)
        commands.add(args.command if args.command != "bench" else f"bench {args.bench_command}")
        if args.command in ("run", "complexity"):
            run = args.run if args.command == "run" else args.run[0]     # complexity takes several --run
            overrides = tuple(run_overrides(run) + args.overrides)
            key = tuple(o for o in overrides if not o.startswith("seed="))   # seeds compose alike
            if overrides[0].removeprefix("model=") in registered and key not in composed:
                cfg = compose_config(*overrides)   # a wrong key, value or variant raises here
                assert cfg.dataset.name == "vaihingen" and cfg.profile.name == "paper"
                composed.add(key)
    assert commands == {"fetch", "prepare", "weights", "run", "complexity", "report", "bench scaling", "bench train",
                        "bench cost"}
    runs = [a for a in calls if a[0] == "run"]
    # Sections 5 + 6, section 8 (one run per GPU) and SLURM each run the 15 configurations x 3 seeds.
    assert len(runs) == 3 * 15 * 3
    # the weights come from the profile's resolution (section 4), not from a per-model table
    assert ["run", "--run", "ms2mnet-no_dfe", "dataset=vaihingen", "profile=paper", "seed=2"] in runs
    assert ["weights", "fetch", "--profile", "paper", "ms2mnet-full"] == [a for a in calls if a[0] == "weights"][0][:5]


@pytest.mark.slow
def test_commands_run_on_synthetic_data(tmp_path):
    baselines = " ".join(m for m in list_models() if m != "ms2mnet" and get_model(m).module.startswith("baselines"))
    overrides = "\n".join([
        "DATASET=synthetic PROFILE=tiny SEEDS=0 NGPU=2 ABLATIONS=ms2mnet-no_dfe",
        f'BASELINES="{baselines}"',
        'BENCH_TRAIN_OPTIONS="--size 32 --batch 2 --steps 1 --warmup 0 --tiles 1 --tile-size 64x64 --window 32"'])
    result = run_script(doc_script(REAL, overrides), tmp_path, timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    for run in ("ms2mnet-full", "ms2mnet-no_dfe", *baselines.split()):
        assert (tmp_path / "runs" / "synthetic" / "tiny" / run / "seed0" / "metrics.json").is_file()
        assert (tmp_path / "runs" / "synthetic" / "tiny" / "complexity" / f"{run}.json").is_file()
    report = (tmp_path / "reports" / "synthetic" / "tiny" / "README.md").read_text()
    assert "ms2mnet-no_dfe" in report and "Verdict" not in report
    assert (tmp_path / "reports" / "synthetic" / "train-cost-ms2mnet.json").is_file()
