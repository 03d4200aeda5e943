"""Local HTTP servers (127.0.0.1, ephemeral port) for the download tests.

`FileServer`: plain files with Range support. `ShareServer`: behaves like a Seafile share
link with a password, as Seahub does it: GET /f/<token>/ answers the password form and
sets a CSRF cookie; POST with the right password (and matching CSRF token) sets a session
cookie; /f/<token>/?dl=1 with that session redirects to /seafhttp/files/<uuid>/<name>,
served with Range; a wrong password or no session gets the form again. `HtmlServer`:
answers every request with an HTML page, status 200.
"""

from __future__ import annotations

import http.server
import secrets
import threading
import urllib.parse
from http.cookies import SimpleCookie

FORM = """<!DOCTYPE html><html><head><title>Seafile</title></head><body>
<form action="/f/{token}/" method="post" id="share-passwd-form">
<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">
<input type="hidden" name="token" value="{token}">
<label>Password: </label><input type="password" name="password" autofocus />
<input type="submit" value="Submit" /></form></body></html>"""
FILE_PAGE = "<!DOCTYPE html><html><body><a href='?dl=1'>Download</a></body></html>"


class _Base(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _record(self, body: bytes = b"") -> None:
        self.server.requests.append({"method": self.command, "path": self.path,
                                     "range": self.headers.get("Range"),
                                     "referer": self.headers.get("Referer"),
                                     "auth": self.headers.get("Authorization"),
                                     "body": body.decode(errors="replace")})

    def _html(self, text: str, cookies: dict[str, str] | None = None) -> None:
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for name, value in (cookies or {}).items():
            self.send_header("Set-Cookie", f"{name}={value}; Path=/")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _bytes(self, data: bytes) -> None:
        """Serve `data`, from the Range start if asked; cut after `cut_after` bytes if set."""
        srv, wanted = self.server, self.headers.get("Range")
        if wanted and srv.ranges:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut_after is not None:
            body, srv.cut_after = body[:srv.cut_after], None   # once: the connection drops
            self.close_connection = True
        self.wfile.write(body)


class _FileHandler(_Base):
    def do_GET(self):
        self._record()
        data = self.server.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404, "Not Found")
        else:
            self._bytes(data)


class _ShareHandler(_Base):
    def _cookies(self) -> dict[str, str]:
        jar = SimpleCookie(self.headers.get("Cookie", ""))
        return {k: m.value for k, m in jar.items()}

    def _form(self) -> None:
        csrf = self._cookies().get("csrftoken") or secrets.token_hex(16)
        self._html(FORM.format(token=self.server.token, csrf=csrf), {"csrftoken": csrf})

    def do_GET(self):
        self._record()
        srv, url = self.server, urllib.parse.urlsplit(self.path)
        if url.path.startswith("/seafhttp/files/"):
            self._bytes(srv.data)
            return
        if url.path != f"/f/{srv.token}/":
            self.send_error(404, "Not Found")
            return
        if self._cookies().get("sessionid") not in srv.sessions:
            self._form()
        elif urllib.parse.parse_qs(url.query).get("dl") == ["1"]:
            self.send_response(302)
            self.send_header("Location", f"/seafhttp/files/{secrets.token_hex(8)}/{srv.name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._html(FILE_PAGE)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._record(body)
        srv, fields = self.server, dict(urllib.parse.parse_qsl(body.decode()))
        csrf = self._cookies().get("csrftoken")
        if not csrf or fields.get("csrfmiddlewaretoken") != csrf or not self.headers.get("Referer"):
            self.send_error(403, "CSRF verification failed")
        elif fields.get("password") == srv.password and fields.get("token") == srv.token:
            session = secrets.token_hex(16)
            srv.sessions.add(session)
            self._html(FILE_PAGE, {"sessionid": session})
        else:
            self._form()


class _HtmlHandler(_Base):
    def do_GET(self):
        self._record()
        self._html("<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>")

    do_POST = do_GET


def start(kind: str):
    handler = {"files": _FileHandler, "share": _ShareHandler, "html": _HtmlHandler}[kind]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.requests, srv.ranges, srv.cut_after = [], True, None
    srv.files, srv.sessions = {}, set()
    srv.token, srv.password, srv.name, srv.data = "429be50cc79d423ab6c4", "secret", "Potsdam.zip", b""
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    srv.share_url = f"{srv.url}/f/{srv.token}/"
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    return srv


def stop(srv) -> None:
    srv.shutdown()
    srv.server_close()
