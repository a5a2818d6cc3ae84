"""The web client's pages (embedded mode; nginx serves them in the cluster)."""
from __future__ import annotations

from pathlib import Path

import tornado.web

from voting.errors import ApiError
from voting.handlers.base import BaseHandler

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>voting</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>voting is running</h1>
<p>The API answers under <a href="/api/polls">/api/</a> and the live feed at <code>/ws</code>
(<a href="/api/openapi.json">OpenAPI document</a>).</p>
<p>The web client is not built. Build it with <code>./build.sh serve</code>, or by hand with
<code>cd client &amp;&amp; npm ci &amp;&amp; npm run build</code>, then reload this page.</p>
</body></html>
"""


NOT_FOUND = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Page not found - voting</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>Page not found</h1><p><a href="/">Go to the start page</a></p>
</body></html>
"""

# The server's own paths answer JSON errors; every other path belongs to the web client.
SERVER_PATHS = ("/api/", "/ws", "/healthz", "/readyz", "/metrics")


def is_server_path(path: str) -> bool:
    return path == "/api" or any(path == p or path.startswith(p.rstrip("/") + "/")
                                 for p in SERVER_PATHS)


class ClientPageHandler(BaseHandler):
    """/, /p/{id}, /p/{id}/present, /p/{id}/admin: the single-page app's index.html."""
    route_name = "client"
    status = 200

    def get(self, *args: str) -> None:
        self.refuse_large_body()
        index = Path(self.config.server.static_dir) / "index.html"
        self.set_status(self.status)
        self.set_header("Cache-Control", "no-cache")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        if index.is_file():
            # The client's router shows its own "page not found" for paths it does not know.
            self.finish(index.read_bytes())
        else:
            self.finish(NOT_BUILT if self.status == 200 else NOT_FOUND)

    head = get  # link checkers and monitors probe pages with HEAD


class ClientNotFoundHandler(ClientPageHandler):
    """Any other path outside the server's own: 404 with the client's "page not found" (HTML)
    for GET and HEAD (DESIGN §8); other methods, and the server's paths, the JSON 404."""
    route_name = "not_found"
    status = 404

    def prepare(self) -> None:
        super().prepare()
        if self.request.method not in ("GET", "HEAD") or is_server_path(self.request.path):
            raise ApiError(404, "not_found", "No such path.")


class ClientFileHandler(tornado.web.StaticFileHandler):
    """Built assets; a missing file is the usual JSON 404."""

    def set_default_headers(self) -> None:
        self.set_header("X-Backend", self.settings["voting_config"].server.name)

    def write_error(self, status_code: int, **kwargs: object) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        code, message = {403: ("forbidden", "This file is not served."),
                         404: ("not_found", "No such file."),
                         405: ("method_not_allowed", "This method is not allowed here.")}.get(
            status_code, ("bad_request", "Bad request."))
        self.finish({"error": {"code": code, "message": message}})

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if "\x00" in absolute_path:  # the file system refuses it; the answer is still a 404
            raise tornado.web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)

    def set_extra_headers(self, path: str) -> None:
        if path.startswith("assets/"):
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")


