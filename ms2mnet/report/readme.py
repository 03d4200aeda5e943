"""reports/README.md: where the numbers came from, the three tables, and the figures."""

from __future__ import annotations

from .reference import SYNTHETIC_CAVEAT, is_synthetic
from .table import Table, to_markdown


def _listing(values: list) -> str:
    words = {True: "on", False: "off"}
    return ", ".join(words.get(v, str(v)) if isinstance(v, bool) else str(v) for v in values) if values \
        else "not recorded"


def _section(number: str, table: Table) -> list[str]:
    body = to_markdown(table) if table.rows else "_No run in `--runs` belongs in this table._"
    return [f"## {number}. {table.title}", "", body, "",
            f"{table.caption} Copies: [{table.name}.csv]({table.name}.csv), [{table.name}.tex]({table.name}.tex).", ""]


def readme(dataset: str, seeds: list[int], runs: list[str], prov: dict, missing: list[dict],
           tables: dict[str, Table], figures: dict[str, str | None], notes: list[str],
           preface: list[str] | None = None) -> str:
    """`preface`: Markdown lines placed after the header list (what the profile is, the DSM effect)."""
    lines = [f"# Benchmark report: {dataset}", ""]
    if is_synthetic(dataset):
        lines += [f"> **{SYNTHETIC_CAVEAT.capitalize()}.** Rendered from the procedural `{dataset}` dataset, "
                  "scenes in which only the height tells buildings from impervious surfaces: what its runs can show "
                  "is said below, by their profile; no number here says anything about MS2MNet on ISPRS data.", ""]
    tree = prov.get("rendered_from") or {}
    if tree.get("dirty"):
        lines += [f"> **Rendered from a dirty tree** (commit {tree['commit']} with uncommitted changes: "
                  f"{', '.join(tree['changed'])}; `--allow-dirty`). Its code is not the commit's.", ""]
    lines += [
        "Rendered by `ms2mnet report` from the run directories; do not edit by hand.",
        f"- Rendered from: {tree.get('commit') or 'not a git checkout'}{' (dirty)' if tree.get('dirty') else ''}",
        "",
        f"- Dataset: `{dataset}`",
        f"- Protocol: `isprs-ssrs` (docs/protocol.md); sliding window {_listing(prov['eval_window'])}, "
        f"stride {_listing(prov['eval_stride'])}, flip TTA {_listing(prov['tta'])}; eroded ground truth; "
        "mF1/mIoU over five classes (clutter excluded)",
        f"- Checkpoint selection: {_listing(prov['selection'])}; profile: {_listing(prov['profiles'])}",
        f"- Runs: {', '.join(f'`{r}`' for r in runs)}",
        f"- Seeds: {_listing(seeds)}",
        f"- Commit of the runs: {_listing(prov['commits'])}",
        f"- Training devices: {_listing(prov['devices'])}",
    ]
    if missing:
        lines.append(f"- **Missing** ({len(missing)}; shown as 'missing' in the tables, never as 0):")
        lines += [f"  - `{m['run']}` seed {m['seed']}: {m['problem']}" for m in missing]
    else:
        lines.append("- Missing: none, every expected run and seed has metrics")
    lines.append("")
    lines += preface or []
    lines += _section("1", tables["main"])
    if "verdict" in tables:   # real datasets only
        lines += _section("1b", tables["verdict"])
    lines += _section("2", tables["ablation"])
    if "ablation_verdict" in tables:
        lines += _section("2b", tables["ablation_verdict"])
    lines += _section("3a", tables["per_class_iou"])
    lines += _section("3b", tables["per_class_f1"])
    lines += _section("4", tables["per_tile"])
    if "dsm_robustness" in tables:
        lines += _section("5", tables["dsm_robustness"])
    lines += ["## Figures", ""]
    for name, path in figures.items():
        if path:
            lines += [f"### {name}", "", f"![{name}]({path})", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)
