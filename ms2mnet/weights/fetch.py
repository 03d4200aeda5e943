"""Download a declared weights file into the weights folder, with the suite's resumable downloader.

The bytes go to `<file>.part` beside the final name (resumed with HTTP Range after an interruption);
a response that is not a PyTorch/numpy file (an HTML error page, say) is refused before a byte is
written, and the finished part must have the declared hash (or, without a published one, the declared
tensors) before it is renamed: otherwise it is deleted and nothing is left under the final name.
"""

from __future__ import annotations

from pathlib import Path

from ms2mnet.data.download import FileKind, OpenRange, download
from ms2mnet.models import WeightFile

from . import FileState, WeightsError, address, check, problem_of

# zip (torch >= 1.6, .npz) or a legacy torch pickle (protocol 2)
SIGNATURES = (b"PK\x03\x04", b"\x80\x02")


def _kind(decl: WeightFile) -> FileKind:
    def problem(part: Path) -> str | None:
        found = problem_of(decl, part)
        return found and found[1]

    return FileKind(f"weights file ({decl.format})", SIGNATURES, problem,
                    hint=lambda url, dest: f"Or download {url} by hand and put it at {dest}.")


def fetch_file(decl: WeightFile, folder: Path, open_range: OpenRange | None = None) -> FileState:
    """Make `decl`'s file present in `folder` (download it unless a checked copy is there)."""
    state = check(decl, folder)
    if state.status == "present":
        return state
    if state.status != "missing":
        raise WeightsError(f"{state.path}: {state.status} ({state.detail}); not overwritten: delete it and run "
                           f"`ms2mnet weights fetch` again, or put the right file there ({address(decl)})")
    if decl.url is None:
        raise WeightsError(f"{state.path}: missing, no direct download: {decl.manual}")
    Path(folder).mkdir(parents=True, exist_ok=True)
    download(decl.url, state.path, open_range, kind=_kind(decl))
    return check(decl, folder)
