"""Training loss against iteration: one small panel per run (the runs' losses differ, so they share no
y-axis), the mean over seeds with the seeds' range as a band, the loss each run optimises in its title.
Read from each seed's dvclive log, dvclive/plots/metrics/train/loss.tsv (columns step, loss)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd
import seaborn as sns
import yaml
from matplotlib.ticker import MaxNLocator

from .canvas import figure, save

log = logging.getLogger(__name__)
LOSS_TSV = Path("dvclive/plots/metrics/train/loss.tsv")
COLUMNS = 4     # panels per row


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


def loss_name(model: dict) -> str:
    """A short name of the loss a run's config.yaml `model` section sets (losses.py's presets)."""
    weights = model.get("loss_weights") or {}
    if model.get("loss") == "paper":
        name = "staged CE+focal+boundary CE+Lovász"
    else:
        name = "CE"
        if weights.get("class_weights") is not None:
            name += " (class-weighted)"
        if weights.get("label_smoothing"):
            name = f"smoothed {name}"
        if weights.get("dice"):
            name += " + Dice"
    aux = model.get("aux_weights") or []
    return name + (f", {len(aux)} aux head{'s' if len(aux) > 1 else ''}" if aux else "")


def loss_names(seed_dirs: dict[str, list[Path]]) -> dict[str, str]:
    """run -> loss_name of its first seed's config.yaml (runs without one are left out)."""
    names = {}
    for run, dirs in seed_dirs.items():
        config = next((Path(d) / "config.yaml" for d in dirs if (Path(d) / "config.yaml").is_file()), None)
        if config is not None:
            try:
                names[run] = loss_name(yaml.safe_load(config.read_text()).get("model") or {})
            except (OSError, yaml.YAMLError, AttributeError) as err:
                log.warning("%s: unreadable config (%s); its loss is not named", config, err)
    return names


def plot_training(losses: pd.DataFrame, title: str, path: Path, names: dict[str, str] | None = None) -> Path | None:
    """One panel per run of `losses` (read_losses); `names`: run -> the loss it optimises (panel titles)."""
    if losses.empty:
        log.info("no training logs found: training-curve figure skipped")
        return None
    runs = list(dict.fromkeys(losses["run"]))
    ncols = min(COLUMNS, len(runs))
    nrows = math.ceil(len(runs) / ncols)
    with figure(3.0 * ncols, 2.3 * nrows + 0.6, nrows=nrows, ncols=ncols) as (fig, axes):
        for ax, run in zip(axes.flat, runs):
            sns.lineplot(data=losses[losses["run"] == run], x="step", y="loss", estimator="mean",
                         errorbar=("pi", 100), ax=ax, color=sns.color_palette("deep")[0])
            ax.set_title(f"{run}\n{(names or {}).get(run, 'loss not recorded')}", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
            ax.set_xlabel("iteration", fontsize=8)
            ax.set_ylabel("training loss", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(runs):]:
            ax.axis("off")
        fig.suptitle(f"{title}\nmean over seeds; band: range over seeds", fontsize=10)
        return save(fig, path)
