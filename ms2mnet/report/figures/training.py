"""Training loss against iteration, one line per run: the mean over seeds, with the seeds' range as a band.
Read from each seed's dvclive log, dvclive/plots/metrics/train/loss.tsv (columns step, loss)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import seaborn as sns

from .canvas import figure, save

log = logging.getLogger(__name__)
LOSS_TSV = Path("dvclive/plots/metrics/train/loss.tsv")


def read_losses(seed_dirs: dict[str, list[Path]]) -> pd.DataFrame:
    """run -> its seed directories, to one frame (run, seed_dir, step, loss); unreadable logs are skipped."""
    frames = []
    for run, dirs in seed_dirs.items():
        for seed_dir in dirs:
            path = Path(seed_dir) / LOSS_TSV
            if not path.is_file():
                continue
            try:
                frame = pd.read_csv(path, sep="\t")
            except (OSError, ValueError, pd.errors.ParserError) as err:
                log.warning("%s: unreadable training log (%s); left out of the training curves", path, err)
                continue
            if not {"step", "loss"} <= set(frame.columns):
                log.warning("%s: expected columns step and loss, found %s", path, list(frame.columns))
                continue
            frames.append(frame[["step", "loss"]].assign(run=run, seed_dir=str(seed_dir)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "seed_dir", "step", "loss"])


def plot_training(losses: pd.DataFrame, title: str, path: Path) -> Path | None:
    if losses.empty:
        log.info("no training logs found: training-curve figure skipped")
        return None
    with figure(7.5, 4.5) as (fig, axes):
        ax = axes[0, 0]
        sns.lineplot(data=losses, x="step", y="loss", hue="run", estimator="mean", errorbar=("pi", 100), ax=ax)
        ax.set_xlabel("iteration")
        ax.set_ylabel("training loss (mean over seeds; band: range)")
        ax.legend(title=None, frameon=False, fontsize=8)
        fig.suptitle(title, fontsize=10)
        return save(fig, path)
