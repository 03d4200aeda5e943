"""A report table and its three renderings: Markdown (in the README), CSV and LaTeX (files beside it).

Display cells are strings (means with their intervals, "missing"); the CSV copy holds the numbers
behind them, one column each, with empty cells where a value is missing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ms2mnet.io import atomic_path


@dataclass
class Table:
    name: str                   # file stem: <name>.csv, <name>.tex
    title: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    data: list[dict] = field(default_factory=list)   # the numbers, one dict per row, for CSV and summary.json

    def cell(self, first: str, header: str) -> str:
        """The cell in column `header` of the row whose first cell is `first`."""
        for row in self.rows:
            if row[0] == first:
                return row[self.columns.index(header)]
        raise KeyError(f"no row {first!r} in table {self.name}")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(table: Table) -> str:
    lines = ["| " + " | ".join(map(_md_escape, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(_md_escape, row)) + " |" for row in table.rows]
    return "\n".join(lines)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$", "Δ": r"$\Delta$", "–": "--", "−": "-", "<": r"$<$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    """A booktabs table (needs \\usepackage{booktabs}); the title and caption become its caption."""
    spec = "l" * len(table.columns)
    body = [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
    return "\n".join([
        r"\begin{table}[t]", r"\centering", r"\small",
        rf"\caption{{{latex_escape(table.title)}. {latex_escape(table.caption)}}}",
        rf"\label{{tab:{table.name.replace('_', '-')}}}",
        rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\", r"\midrule",
        *body, r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def to_csv(table: Table) -> str:
    fields: list[str] = []
    for row in table.data:
        fields += [k for k in row if k not in fields]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in table.data:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def write_table(table: Table, out_dir: Path) -> list[Path]:
    """Write <name>.csv and <name>.tex into out_dir atomically (beside the README); returns their paths."""
    paths = []
    for suffix, text in ((".csv", to_csv(table)), (".tex", to_latex(table))):
        path = Path(out_dir) / f"{table.name}{suffix}"
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        paths.append(path)
    return paths
