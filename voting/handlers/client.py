"""The web client's pages (embedded mode; nginx serves them in the cluster)."""
from __future__ import annotations

from pathlib import Path

import tornado.web

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


class ClientPageHandler(BaseHandler):
    """/, /p/{id}, /p/{id}/present, /p/{id}/admin: the single-page app's index.html."""
    route_name = "client"

    def get(self, *args: str) -> None:
        index = Path(self.config.server.static_dir) / "index.html"
        self.set_header("Cache-Control", "no-cache")
        if index.is_file():
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.finish(index.read_bytes())
        else:
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.finish(NOT_BUILT)

    head = get  # link checkers and monitors probe pages with HEAD


class ClientFileHandler(tornado.web.StaticFileHandler):
    """Built assets; a missing file is the usual JSON 404."""

    def set_default_headers(self) -> None:
        self.set_header("X-Backend", self.settings["voting_config"].server.name)

    def write_error(self, status_code: int, **kwargs: object) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        code, message = {404: ("not_found", "No such file."),
                         405: ("method_not_allowed", "This method is not allowed here.")}.get(
            status_code, ("bad_request", "Bad request."))
        self.finish({"error": {"code": code, "message": message}})

    def set_extra_headers(self, path: str) -> None:
        if path.startswith("assets/"):
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")


