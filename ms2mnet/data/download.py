"""Download one zip archive (or another `FileKind`), resumably, and never keep anything else.

Bytes go to `<name>.part`; beside it `<name>.part.json` records the URL and the total size
the server announced. A later run resumes the part (HTTP Range) only if both match, else
it starts over. A response that starts at byte 0 must begin with the zip signature and
must not be an HTML page (file shares answer a wrong or missing password with their login
page, status 200): such a response is refused before a byte is written. The finished
file must be a readable zip before it is renamed to its final name. Other kinds of file (the
pretrained weights: ms2mnet/weights) pass their own signatures, completeness check and hint.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.client import HTTPException, HTTPResponse
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)

ZIP_SIGNATURE = b"PK\x03\x04"      # a zip's first local file header
TIMEOUT_S = 60
_CHUNK = 1 << 20

# start offset -> an open response (206 from `start`, or 200 from 0 where Range is ignored)
OpenRange = Callable[[int], HTTPResponse]


class DownloadError(RuntimeError):
    """A download failed or was refused; the message names the URL and what to do."""


def manual_steps(url: str, dest: Path) -> str:
    return (f"To download by hand: open {url} in a browser, enter the password printed on the "
            f"ISPRS benchmark page, save the file as {dest}, then run `ms2mnet fetch` again.")


def open_plain(url: str, start: int) -> HTTPResponse:
    """GET `url`, from byte `start` on (Range) where start > 0."""
    request = urllib.request.Request(url)
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)


@dataclass(frozen=True)
class FileKind:
    """What a download must be: its possible first bytes, a check of the finished file (None: fine,
    else what is wrong; the file is then deleted), and the manual route `hint(url, dest)`."""

    name: str
    signatures: tuple[bytes, ...]
    problem: Callable[[Path], str | None]
    hint: Callable[[str, Path], str] = field(default=manual_steps)


ZIP = FileKind("zip archive", (ZIP_SIGNATURE,),
               lambda path: None if zipfile.is_zipfile(path) else "no zip directory at its end")


@dataclass(frozen=True)
class PartInfo:
    """What a `.part` file is a part of."""

    url: str
    size: int | None       # total size announced by the server (None: not announced)


def _part_paths(dest: Path) -> tuple[Path, Path]:
    part = dest.with_name(dest.name + ".part")
    return part, part.with_name(part.name + ".json")


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _resumable_bytes(part: Path, info_path: Path, url: str, kind: FileKind) -> tuple[int, PartInfo | None]:
    """Bytes of `part` that may be resumed, 0 (part dropped) if it belongs to another download."""
    if not part.is_file():
        _discard(info_path)
        return 0, None
    try:
        info = PartInfo(**json.loads(info_path.read_text()))
    except (OSError, ValueError, TypeError):
        info = None
    have = part.stat().st_size
    with open(part, "rb") as f:
        head = f.read(max(map(len, kind.signatures)))
    if (info is None or info.url != url or (info.size is not None and have > info.size)
            or (have and not head.startswith(kind.signatures))):
        log.info("%s: partial file from another or an unknown download; starting over", part)
        _discard(part, info_path)
        return 0, None
    return have, info


def _total_size(response: HTTPResponse, start: int) -> int | None:
    """The whole file's size, from Content-Range (206) or Content-Length (200)."""
    if response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        total = content_range.rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def _is_html(response: HTTPResponse, head: bytes) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    start = head.lstrip()[:15].lower()
    return "html" in content_type or start.startswith((b"<!doctype", b"<html", b"<head", b"<body"))


def _refusal(url: str, dest: Path, response: HTTPResponse, head: bytes, kind: FileKind) -> DownloadError:
    if _is_html(response, head) and kind is not ZIP:
        what = "an HTML page (an error or sign-in page), not the file"
    elif _is_html(response, head):
        what = ("an HTML page (the share's password page, or an error page): the password in "
                "MS2MNET_ISPRS_PASSWORD is missing or wrong, the link expired, or the URL is "
                "not a direct link to the file")
    else:
        what = (f"{response.headers.get('Content-Type') or 'data'} starting with {head[:8]!r}, "
                f"not a {kind.name} (which starts with {' or '.join(map(repr, kind.signatures))})")
    return DownloadError(f"{url}: refused the download of {dest.name}: the server sent {what}. "
                         f"Nothing was saved. {kind.hint(url, dest)}")


def _open(open_range: OpenRange, url: str, start: int) -> HTTPResponse:
    retry = "Check the URL and the network, then run fetch again; a partial download resumes"
    try:
        return open_range(start)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}, expected the file. "
                            f"{retry}.") from err
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: cannot connect ({err}). {retry}.") from err


def _start(open_range: OpenRange, url: str, dest: Path, have: int, info: PartInfo | None, kind: FileKind
           ) -> tuple[HTTPResponse, int, PartInfo, bytes]:
    """Open the response to continue from `have` (or from 0), check it; first bytes read."""
    response = _open(open_range, url, have)
    total = _total_size(response, have)
    resumed = have and response.status == 206
    if have and not resumed:
        log.info("%s: the server did not resume (HTTP %d); starting over", url, response.status)
    elif resumed and info is not None and info.size is not None and total != info.size:
        response.close()
        log.info("%s: the file is now %s bytes, the partial download was of %s; starting over",
                 url, total, info.size)
        response = _open(open_range, url, 0)
        total, resumed = _total_size(response, 0), False
    head = response.read(max(map(len, kind.signatures)))
    if (not resumed and not head.startswith(kind.signatures)) or (resumed and _is_html(response, head)):
        response.close()
        raise _refusal(url, dest, response, head, kind)
    return response, (have if resumed else 0), PartInfo(url, total), head


def download(url: str, dest: Path, open_range: OpenRange | None = None,
             published_size: int | None = None, kind: FileKind = ZIP) -> Path:
    """Download the zip (or `kind`) at `url` to `dest` (see the module doc); `open_range` opens the
    URL from a byte offset (default: plain GET with Range)."""
    open_range = open_range or (lambda start: open_plain(url, start))
    part, info_path = _part_paths(dest)
    have, info = _resumable_bytes(part, info_path, url, kind)
    if not (info is not None and info.size is not None and have == info.size):  # else complete
        response, have, info, head = _start(open_range, url, dest, have, info, kind)
        if published_size is not None and info.size not in (None, published_size):
            log.warning("%s: the server announces %d bytes, the published size is %d; the "
                        "archive may have been reissued", url, info.size, published_size)
        info_path.write_text(json.dumps(asdict(info)) + "\n")
        _receive(response, url, part, have, head, info.size or published_size)
    _finish(url, dest, part, info_path, info.size or published_size, kind)
    return dest


def _receive(response: HTTPResponse, url: str, part: Path, have: int, head: bytes,
             total: int | None) -> None:
    with response, open(part, "ab" if have else "wb") as out, \
            tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.name) as bar:
        try:
            out.write(head)
            bar.update(len(head))
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        except (OSError, HTTPException) as err:     # IncompleteRead is an HTTPException
            out.flush()
            raise DownloadError(f"{url}: connection lost after {out.tell()} bytes ({err!r}). "
                                "Run fetch again to resume.") from err


def _finish(url: str, dest: Path, part: Path, info_path: Path, total: int | None, kind: FileKind) -> None:
    got = part.stat().st_size
    if total is not None and got < total:
        raise DownloadError(f"{url}: got {got} of {total} bytes. Run fetch again to resume.")
    problem = f"{got} bytes, expected {total}" if total is not None and got > total else kind.problem(part)
    if problem:
        _discard(part, info_path)
        raise DownloadError(f"{url}: the downloaded file is not a complete {kind.name} ({problem}); it was "
                            f"deleted. Run fetch again. {kind.hint(url, dest)}")
    part.replace(dest)
    _discard(info_path)
