"""Seafile share links (`https://<host>/f/<token>/`), where ISPRS keeps its two packages.

Seafile's web front end (Seahub, a Django site) ignores HTTP basic auth. For a share with
a password, a GET of the link answers an HTML page with a form (fields
`csrfmiddlewaretoken`, `password`, and on newer versions `token`) and sets the CSRF
cookie. POSTing the form back to the link with the password marks the browser session as
allowed for that share (the session cookie; Seahub keeps it for about an hour); a wrong
password gets the form again. Then `<link>?dl=1` redirects to the file server, which
serves the file and honours Range. This module does exactly that with the standard
library; the password is sent in that one POST and never written anywhere.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from http.client import HTTPResponse
from http.cookiejar import CookieJar

from ms2mnet.data.download import TIMEOUT_S, DownloadError

log = logging.getLogger(__name__)

PASSWORD_ENV = "MS2MNET_ISPRS_PASSWORD"
_FILE_SHARE_PATH = re.compile(r"/f/[0-9A-Za-z]+/?$")
_MAX_PAGE = 1 << 20          # an HTML page is small; never read a file into memory by mistake


def is_file_share(url: str) -> bool:
    """A Seafile file share link: path `/f/<token>/` (the trailing '/' is not a folder)."""
    return bool(_FILE_SHARE_PATH.search(urllib.parse.urlsplit(url).path))


def download_url(url: str) -> str:
    """The share link with `dl=1`: the file itself rather than its preview page."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "dl"] + [("dl", "1")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class _PasswordForm(HTMLParser):
    """Finds the form that has a password input; keeps its action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.found = False
        self._in_form = False
        self._current: tuple[str | None, dict[str, str], bool] = (None, {}, False)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in_form, self._current = True, (a.get("action"), {}, False)
        elif tag == "input" and self._in_form:
            action, fields, has_password = self._current
            kind, name = a.get("type", "text").lower(), a.get("name")
            if kind == "password":
                has_password = True
            elif kind == "hidden" and name:
                fields[name] = a.get("value", "")
            self._current = (action, fields, has_password)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            action, fields, has_password = self._current
            if has_password and not self.found:
                self.found, self.action, self.fields = True, action, fields


def password_form(html: str) -> _PasswordForm | None:
    parser = _PasswordForm()
    parser.feed(html)
    parser.close()
    return parser if parser.found else None


class ShareLink:
    """One Seafile file share; `open(start)` is the `OpenRange` that `download` needs."""

    def __init__(self, url: str, password: str | None) -> None:
        self.url = url
        self._password = password
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self._unlocked = False

    def _page(self, request: urllib.request.Request) -> tuple[HTTPResponse, str]:
        response = self._opener.open(request, timeout=TIMEOUT_S)
        with response:
            body = response.read(_MAX_PAGE)
        charset = response.headers.get_content_charset() or "utf-8"
        return response, body.decode(charset, errors="replace")

    def _unlock(self) -> None:
        """Submit the password form if the share shows one (once per session)."""
        _, html = self._page(urllib.request.Request(self.url))
        form = password_form(html)
        if form is None:
            log.info("%s: no password form; downloading directly", self.url)
            self._unlocked = True
            return
        if not self._password:
            raise DownloadError(f"{self.url}: the share asks for a password. Set {PASSWORD_ENV} "
                                "to the password printed on the ISPRS benchmark page and run "
                                "fetch again.")
        fields = {**form.fields, "password": self._password}
        target = urllib.parse.urljoin(self.url, form.action or self.url)
        request = urllib.request.Request(
            target, data=urllib.parse.urlencode(fields).encode(), method="POST",
            # Django checks the Referer of HTTPS form posts against the site (CSRF protection).
            headers={"Referer": self.url, "Content-Type": "application/x-www-form-urlencoded"})
        _, answer = self._page(request)
        if password_form(answer) is not None:
            raise DownloadError(f"{self.url}: the share refused the password in {PASSWORD_ENV} "
                                "(it showed its password form again). Copy the password from the "
                                "ISPRS benchmark page and run fetch again.")
        log.info("%s: password accepted", self.url)
        self._unlocked = True

    def open(self, start: int) -> HTTPResponse:
        if not self._unlocked:
            self._unlock()
        request = urllib.request.Request(download_url(self.url))
        if start:
            request.add_header("Range", f"bytes={start}-")
        return self._opener.open(request, timeout=TIMEOUT_S)
