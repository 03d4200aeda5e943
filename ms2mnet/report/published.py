"""Published numbers as data: conf/references/<dataset>.yaml, one file per real dataset.

Each number carries its source (a key of the file's `sources:`, with a citation and whether anyone has
compared the number with that primary source), so the report can say where every paper value comes
from and mark the unchecked ones. The format (docs/reports.md, "References"):

    sources:
      <key>: {cite: "Paper, Table 3, p. 7", checked: true}
    models:
      <model>:
        oa | mf1 | miou | params_m | gmacs: {value: 84.14, source: <key>, counted: "thop, train mode"}
        f1: {<class>: {value: 90.1, source: <key>}, ...}       # per-class F1
    ablations:
      - {row: "w/o DFE", variant: no_dfe, miou: {value: 83.2, source: <key>}}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ms2mnet.data.palette import CLASSES

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "conf" / "references"
SCALARS = ("oa", "mf1", "miou", "params_m", "gmacs")
ABLATION_METRICS = ("oa", "mf1", "miou")


@dataclass(frozen=True)
class Value:
    value: float
    source: str              # the citation
    checked: bool            # compared with the primary source by someone
    counted: str | None = None   # how a cost was counted (FLOPs: counter and mode)

    def show(self, digits: int = 2) -> str:
        return f"{self.value:.{digits}f}" + ("" if self.checked else " (unchecked)")


@dataclass(frozen=True)
class AblationRow:
    row: str                     # the paper's name for the configuration
    variant: str                 # our variant it maps to
    values: dict[str, Value]


@dataclass
class References:
    dataset: str
    path: Path | None
    models: dict[str, dict[str, Value]] = field(default_factory=dict)
    per_class_f1: dict[str, dict[str, Value]] = field(default_factory=dict)
    ablations: list[AblationRow] = field(default_factory=list)

    def of(self, model: str) -> dict[str, Value]:
        return self.models.get(model, {})

    def ablation(self, variant: str) -> AblationRow | None:
        return next((a for a in self.ablations if a.variant == variant), None)


def _fail(path: Path, where: str, problem: str) -> ValueError:
    return ValueError(f"{path}: {where}: {problem}; see docs/reports.md, 'References', for the format")


def _value(path: Path, where: str, entry: object, sources: dict) -> Value:
    if not isinstance(entry, dict) or "value" not in entry or "source" not in entry:
        raise _fail(path, where, "expected {value: <number>, source: <key of sources>}")
    number = entry["value"]
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise _fail(path, where, f"value {number!r} is not a finite number")
    source = sources.get(entry["source"])
    if source is None:
        raise _fail(path, where, f"source {entry['source']!r} is not a key of `sources:` ({', '.join(sources)})")
    return Value(float(number), source["cite"], bool(source.get("checked", False)), entry.get("counted"))


def load_references(dataset: str, directory: Path | None = None) -> References:
    """The published numbers for `dataset`; an empty References when the dataset has no file."""
    path = Path(directory or DEFAULT_DIR) / f"{dataset}.yaml"
    if not path.is_file():
        return References(dataset, None)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise _fail(path, "top level", "expected a mapping with sources, models and ablations")
    sources = data.get("sources") or {}
    for key, source in sources.items():
        if not isinstance(source, dict) or not source.get("cite"):
            raise _fail(path, f"sources.{key}", "expected {cite: <paper, table, page or file>, checked: <bool>}")
    refs = References(dataset, path)
    for model, metrics in (data.get("models") or {}).items():
        unknown = set(metrics or {}) - set(SCALARS) - {"f1"}
        if unknown:
            raise _fail(path, f"models.{model}", f"unknown keys {sorted(unknown)}; expected {', '.join(SCALARS)}, f1")
        refs.models[model] = {m: _value(path, f"models.{model}.{m}", metrics[m], sources)
                              for m in SCALARS if m in metrics}
        per_class = metrics.get("f1") or {}
        bad = set(per_class) - set(CLASSES)
        if bad:
            raise _fail(path, f"models.{model}.f1", f"unknown classes {sorted(bad)}; expected {', '.join(CLASSES)}")
        if per_class:
            refs.per_class_f1[model] = {c: _value(path, f"models.{model}.f1.{c}", v, sources)
                                        for c, v in per_class.items()}
    for i, row in enumerate(data.get("ablations") or []):
        if not isinstance(row, dict) or not row.get("variant") or not row.get("row"):
            raise _fail(path, f"ablations[{i}]", "expected {row: <paper's name>, variant: <ours>, miou: {...}}")
        values = {m: _value(path, f"ablations[{i}].{m}", row[m], sources) for m in ABLATION_METRICS if m in row}
        refs.ablations.append(AblationRow(str(row["row"]), str(row["variant"]), values))
    return refs
