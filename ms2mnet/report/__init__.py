"""Tables and figures from runs: `render_report` turns runs/<dataset>/ into reports/.

`render_report` is imported on first use, so that `ms2mnet --help` does not load pandas and seaborn.
"""

from __future__ import annotations

__all__ = ["render_report"]


def __getattr__(name: str):
    if name == "render_report":
        from .render import render_report
        return render_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
