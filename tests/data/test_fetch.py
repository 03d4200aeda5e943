"""Fetching: local archives, downloads from a local HTTP server (with resume), checksums."""

import base64
import hashlib
import http.server
import json
import os
import threading
import zipfile

import pytest

from ms2mnet.data.fetch import CHECKSUMS, DownloadError, download, fetch
from ms2mnet.data.prepare import prepare
from ms2mnet.data.specs import DataError, MissingDataError

MAIN = "ISPRS_semantic_labeling_Vaihingen.zip"
VAIHINGEN_MD5 = "462b8dca7b6fa9eaf729840f0cdfc7f3"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        srv = self.server
        srv.requests.append({"path": self.path, "range": self.headers.get("Range"),
                             "auth": self.headers.get("Authorization")})
        data = srv.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404, "Not Found")
            return
        wanted = self.headers.get("Range")
        if wanted and srv.ranges:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.ranges = {}, [], True
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("MS2MNET_"):
            monkeypatch.delenv(name)


def test_download_resumes_a_partial_file_with_range(server, tmp_path):
    data = os.urandom(300_000)
    server.files["big.zip"] = data
    (tmp_path / "big.zip.part").write_bytes(data[:100_000])
    path = download(f"{server.url}/big.zip", tmp_path / "big.zip")
    assert path.read_bytes() == data and not (tmp_path / "big.zip.part").exists()
    assert server.requests[-1]["range"] == "bytes=100000-"


def test_download_starts_over_when_the_server_ignores_range(server, tmp_path):
    data = os.urandom(50_000)
    server.files["big.zip"], server.ranges = data, False
    (tmp_path / "big.zip.part").write_bytes(b"stale" * 100)
    assert download(f"{server.url}/big.zip", tmp_path / "big.zip").read_bytes() == data


def test_download_http_error_names_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nothing.zip: HTTP 404.*MS2MNET_ISPRS_PASSWORD"):
        download(f"{server.url}/nothing.zip", tmp_path / "nothing.zip")


def _package(synthetic_dir) -> bytes:
    """A Vaihingen.zip like the one ISPRS distributes: the inner zips under Vaihingen/."""
    path = synthetic_dir.parent / "Vaihingen.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for inner in sorted(synthetic_dir.glob("*.zip")):
            zf.write(inner, f"Vaihingen/{inner.name}")
    return path.read_bytes()


def test_fetch_downloads_the_package_and_stops_on_a_checksum_mismatch(raw, tmp_path, server,
                                                                     monkeypatch):
    server.files["share/Vaihingen.zip"] = _package(raw / "synthetic")
    monkeypatch.setenv("MS2MNET_VAIHINGEN_URL", f"{server.url}/share/Vaihingen.zip")
    monkeypatch.setenv("MS2MNET_ISPRS_PASSWORD", "secret")
    target = tmp_path / "fetched"
    with pytest.raises(DataError) as info:
        fetch("vaihingen", target)
    found = hashlib.md5((raw / "synthetic" / MAIN).read_bytes()).hexdigest()
    assert f"md5 is {found}, expected {VAIHINGEN_MD5}" in str(info.value)
    assert server.requests[0]["auth"] == "Basic " + base64.b64encode(b":secret").decode()
    # Mirrors re-pack archives: --no-verify accepts them, and nothing is downloaded again.
    paths = fetch("vaihingen", target, verify=False)
    assert len(server.requests) == 1
    assert paths[MAIN].read_bytes() == (raw / "synthetic" / MAIN).read_bytes()
    assert "secret" not in "".join(p.read_text(errors="ignore") for p in target.rglob("*.json"))


def test_fetch_inner_archives_from_a_folder_url_then_prepare(raw, tmp_path, server, monkeypatch):
    for path in (raw / "synthetic").glob("*.zip"):
        server.files[f"isprs/{path.name}"] = path.read_bytes()
    monkeypatch.setenv("MS2MNET_VAIHINGEN_URL", f"{server.url}/isprs/")
    paths = fetch("vaihingen", tmp_path / "fetched", verify=False)
    assert len(paths) == 3 and len(server.requests) == 3
    summary = prepare("vaihingen", tmp_path / "fetched", tmp_path / "out", verify=False)
    assert len(summary.prepared) == 16


def test_fetch_url_option_overrides_and_existing_archives_are_not_downloaded(raw, tmp_path, server):
    server.files["Vaihingen.zip"] = _package(raw / "synthetic")
    urls = {"Vaihingen.zip": f"{server.url}/Vaihingen.zip"}
    fetch("vaihingen", tmp_path / "fetched", urls=urls, verify=False)
    fetch("vaihingen", tmp_path / "fetched", urls=urls, verify=False)
    assert len(server.requests) == 1


def test_fetch_without_archives_or_urls_says_which_files_where(tmp_path):
    with pytest.raises(MissingDataError) as info:
        fetch("potsdam", tmp_path / "raw")
    message = str(info.value)
    for needle in ("4_Ortho_RGBIR.zip", "1_DSM_normalisation.zip", "5_Labels_all.zip",
                   "5_Labels_all_noBoundary.zip", "Potsdam.zip", str(tmp_path / "raw" / "potsdam"),
                   "MS2MNET_POTSDAM_URL", "MS2MNET_ISPRS_PASSWORD", "isprs.org"):
        assert needle in message


def test_md5_is_recorded_at_first_prepare_and_checked_later(raw, tmp_path):
    folder = raw / "synthetic"
    (folder / CHECKSUMS).unlink()
    prepare("synthetic", raw, tmp_path / "out")
    recorded = json.loads((folder / CHECKSUMS).read_text())
    assert recorded[MAIN]["md5"] == hashlib.md5((folder / MAIN).read_bytes()).hexdigest()
    with zipfile.ZipFile(folder / MAIN, "a") as zf:
        zf.writestr("extra.txt", "changed")
    with pytest.raises(DataError, match=f"expected {recorded[MAIN]['md5']} \\(recorded"):
        prepare("synthetic", raw, tmp_path / "out")


def test_synthetic_fetch_is_idempotent(tmp_path):
    paths = fetch("synthetic", tmp_path, tile_size=(32, 32), tiles=2)
    stamp = {n: p.stat().st_mtime_ns for n, p in paths.items()}
    again = fetch("synthetic", tmp_path, tile_size=(32, 32), tiles=2)
    assert {n: p.stat().st_mtime_ns for n, p in again.items()} == stamp
    fetch("synthetic", tmp_path, tile_size=(32, 48), tiles=2)        # other parameters: rewritten
    assert prepare("synthetic", tmp_path, tmp_path / "out").pixels["train"] == 32 * 48
