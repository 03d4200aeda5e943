"""Fetching: local archives, downloads (resume, zips only), the Seafile share flow, checksums."""

import hashlib
import io
import json
import os
import zipfile

import pytest

from ms2mnet.data.checksums import CHECKSUMS
from ms2mnet.data.download import DownloadError, download
from ms2mnet.data.fetch import fetch
from ms2mnet.data.prepare import prepare
from ms2mnet.data.seafile import download_url, is_file_share
from ms2mnet.data.specs import DataError, MissingDataError

from . import servers

MAIN = "ISPRS_semantic_labeling_Vaihingen.zip"
VAIHINGEN_MD5 = "462b8dca7b6fa9eaf729840f0cdfc7f3"
ORTHO_MD5 = "c4a8f7d8c7196dd4eba4addd0aae10c1"


@pytest.fixture
def server():
    srv = servers.start("files")
    yield srv
    servers.stop(srv)


@pytest.fixture
def share():
    srv = servers.start("share")
    yield srv
    servers.stop(srv)


@pytest.fixture
def html_only():
    srv = servers.start("html")
    yield srv
    servers.stop(srv)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("MS2MNET_"):
            monkeypatch.delenv(name)


def _zip_bytes(payload: int, seed: int = 0) -> bytes:
    """A valid zip of about `payload` bytes (stored, so its size is predictable)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("data.bin", hashlib.sha256(str(seed).encode()).digest() * (payload // 32))
    return buf.getvalue()


def _left(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock") if folder.exists() else []


# ---------------------------------------------------------------- download: resume and refusals

def test_download_resumes_after_a_lost_connection_with_range(server, tmp_path):
    data = _zip_bytes(300_000)
    server.files["big.zip"], server.cut_after = data, 100_000
    dest = tmp_path / "big.zip"
    with pytest.raises(DownloadError, match=r"/big.zip: got 100000 of \d+ bytes. Run fetch again to resume"):
        download(f"{server.url}/big.zip", dest)
    assert _left(tmp_path) == ["big.zip.part", "big.zip.part.json"]
    assert json.loads((tmp_path / "big.zip.part.json").read_text()) == {
        "url": f"{server.url}/big.zip", "size": len(data)}
    assert download(f"{server.url}/big.zip", dest).read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=100000-" and _left(tmp_path) == ["big.zip"]


def test_download_starts_over_when_the_server_ignores_range(server, tmp_path):
    data = _zip_bytes(50_000)
    server.files["big.zip"], server.ranges, server.cut_after = data, False, 20_000
    with pytest.raises(DownloadError):
        download(f"{server.url}/big.zip", tmp_path / "big.zip")
    assert download(f"{server.url}/big.zip", tmp_path / "big.zip").read_bytes() == data


@pytest.mark.parametrize("record", ["other url", "other size", "none"])
def test_a_partial_file_of_another_download_is_not_resumed(server, tmp_path, record):
    old, new = _zip_bytes(80_000, seed=1), _zip_bytes(60_000, seed=2)
    server.files["a.zip"], server.files["b.zip"] = old, new
    dest = tmp_path / "b.zip"
    (tmp_path / "b.zip.part").write_bytes(old[:30_000])
    info = {"other url": {"url": f"{server.url}/a.zip", "size": len(old)},
            "other size": {"url": f"{server.url}/b.zip", "size": len(old)}}.get(record)
    if info is not None:
        (tmp_path / "b.zip.part.json").write_text(json.dumps(info))
    assert download(f"{server.url}/b.zip", dest).read_bytes() == new
    assert _left(tmp_path) == ["b.zip"]


def test_download_http_error_names_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nothing.zip: HTTP 404"):
        download(f"{server.url}/nothing.zip", tmp_path / "nothing.zip")
    assert _left(tmp_path) == []


def test_a_response_that_is_not_a_zip_is_refused_and_nothing_is_saved(server, tmp_path):
    server.files["Potsdam.zip"] = b"%PDF-1.4 not a zip at all" * 100
    url = f"{server.url}/Potsdam.zip"
    with pytest.raises(DownloadError) as info:
        download(url, tmp_path / "Potsdam.zip")
    message = str(info.value)
    assert url in message and "not a zip archive" in message and "Nothing was saved" in message
    assert "by hand" in message and str(tmp_path / "Potsdam.zip") in message
    assert _left(tmp_path) == []


# ---------------------------------------------------------------- the Seafile share

def _potsdam_package(raw, tmp_path) -> bytes:
    """A Potsdam.zip as ISPRS distributes it: the inner zips under Potsdam/."""
    path = tmp_path / "Potsdam.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for inner in sorted((raw / "synthetic-potsdam").glob("*.zip")):
            zf.write(inner, f"Potsdam/{inner.name}")
    return path.read_bytes()


def test_share_links_are_recognised_and_get_dl_1():
    assert is_file_share("https://seafile.projekt.uni-hannover.de/f/429be50cc79d423ab6c4/")
    assert not is_file_share("https://example.org/isprs/")
    assert download_url("https://h/f/abc/") == "https://h/f/abc/?dl=1"


def test_share_password_flow_downloads_the_package(raw, tmp_path, share, monkeypatch):
    share.data = _potsdam_package(raw, tmp_path)
    monkeypatch.setenv("MS2MNET_POTSDAM_URL", share.share_url)     # ends in '/': not a folder
    monkeypatch.setenv("MS2MNET_ISPRS_PASSWORD", "secret")
    target = tmp_path / "fetched"
    paths = fetch("potsdam", target)
    assert (target / "potsdam/Potsdam.zip").read_bytes() == share.data
    assert paths["5_Labels_for_participants.zip"].name == "5_Labels_for_participants.zip"
    steps = [(r["method"], r["path"].split("?")[0].rsplit("/", 2)[0], r["path"].partition("?")[2])
             for r in share.requests]
    assert steps == [("GET", "/f", ""), ("POST", "/f", ""), ("GET", "/f", "dl=1"),
                     ("GET", "/seafhttp/files", "")]
    post = share.requests[1]
    assert "password=secret" in post["body"] and "csrfmiddlewaretoken=" in post["body"]
    assert post["referer"] == share.share_url and all(r["auth"] is None for r in share.requests)
    # 4_Ortho_RGBIR.zip is synthetic here: its md5 is not the published one, its CRCs are fine.
    entry = json.loads((target / "potsdam" / CHECKSUMS).read_text())["4_Ortho_RGBIR.zip"]
    assert entry["published_md5"] == ORTHO_MD5 and entry["crc_checked"]
    stored = "".join(p.read_text(errors="ignore") for p in target.rglob("*") if p.is_file()
                     and p.suffix in (".json", ".part", ""))
    assert "secret" not in stored


def test_share_download_resumes_with_a_new_session(raw, tmp_path, share, monkeypatch):
    share.data, share.cut_after = _potsdam_package(raw, tmp_path), 50_000
    monkeypatch.setenv("MS2MNET_ISPRS_PASSWORD", "secret")
    urls = {"Potsdam.zip": share.share_url}
    with pytest.raises(DownloadError, match=r"got 50000 of \d+ bytes"):
        fetch("potsdam", tmp_path / "fetched", urls=urls)
    assert _left(tmp_path / "fetched/potsdam") == ["Potsdam.zip.part", "Potsdam.zip.part.json"]
    fetch("potsdam", tmp_path / "fetched", urls=urls, verify=False)
    assert share.requests[-1]["range"] == "bytes=50000-"
    assert (tmp_path / "fetched/potsdam/Potsdam.zip").read_bytes() == share.data


@pytest.mark.parametrize("password", [None, "wrong"])
def test_share_without_the_right_password_is_refused_and_leaves_nothing(tmp_path, share,
                                                                       monkeypatch, password):
    share.data = _zip_bytes(10_000)
    if password:
        monkeypatch.setenv("MS2MNET_ISPRS_PASSWORD", password)
    with pytest.raises(DownloadError) as info:
        fetch("potsdam", tmp_path / "raw", urls={"Potsdam.zip": share.share_url})
    message = str(info.value)
    assert share.share_url in message and "MS2MNET_ISPRS_PASSWORD" in message
    assert ("refused the password" if password else "asks for a password") in message
    assert _left(tmp_path / "raw/potsdam") == []
    assert not any(r["path"].startswith("/seafhttp") for r in share.requests)


@pytest.mark.parametrize("link", ["share", "direct"])
def test_a_server_that_only_answers_html_is_refused(tmp_path, html_only, monkeypatch, link):
    monkeypatch.setenv("MS2MNET_ISPRS_PASSWORD", "secret")
    url = f"{html_only.url}/f/429be50cc79d423ab6c4/" if link == "share" else \
        f"{html_only.url}/Potsdam.zip"
    with pytest.raises(DownloadError) as info:
        fetch("potsdam", tmp_path / "raw", urls={"Potsdam.zip": url})
    message = str(info.value)
    assert message.startswith(url) and "an HTML page" in message and "Nothing was saved" in message
    assert "by hand" in message and "ISPRS" in message
    assert _left(tmp_path / "raw/potsdam") == []
    # What used to happen: the page saved as Potsdam.zip, later reported as a corrupt archive.
    assert not (tmp_path / "raw/potsdam/Potsdam.zip").exists()


def _package(synthetic_dir) -> bytes:
    """A Vaihingen.zip like the one ISPRS distributes: the inner zips under Vaihingen/."""
    path = synthetic_dir.parent / "Vaihingen.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for inner in sorted(synthetic_dir.glob("*.zip")):
            zf.write(inner, f"Vaihingen/{inner.name}")
    return path.read_bytes()


def test_fetch_downloads_the_package_and_accepts_a_reissued_archive(raw, tmp_path, server,
                                                                    monkeypatch):
    server.files["share/Vaihingen.zip"] = _package(raw / "synthetic")
    monkeypatch.setenv("MS2MNET_VAIHINGEN_URL", f"{server.url}/share/Vaihingen.zip")
    target = tmp_path / "fetched"
    paths = fetch("vaihingen", target)
    entry = json.loads((target / "vaihingen" / CHECKSUMS).read_text())[MAIN]
    found = hashlib.md5((raw / "synthetic" / MAIN).read_bytes()).hexdigest()
    assert entry["md5"] == found and entry["published_md5"] == VAIHINGEN_MD5
    # Nothing is downloaded again.
    assert fetch("vaihingen", target) == paths and len(server.requests) == 1
    assert paths[MAIN].read_bytes() == (raw / "synthetic" / MAIN).read_bytes()


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
    for needle in ("4_Ortho_RGBIR.zip", "1_DSM_normalisation.zip", "5_Labels_for_participants.zip",
                   "5_Labels_for_participants_no_Boundary.zip", "Potsdam.zip",
                   str(tmp_path / "raw" / "potsdam"), "MS2MNET_POTSDAM_URL", "MS2MNET_ISPRS_PASSWORD",
                   "isprs.org", "seafile.projekt.uni-hannover.de/f/429be50cc79d423ab6c4/",
                   "docs/data.md"):
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
