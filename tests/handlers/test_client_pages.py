"""The web client's routes (DESIGN.md §8) in embedded mode, built and not built."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.client import Api
from tests.conftest import make_config
from voting.app import Server, make_storage
from voting.ws.broker import InProcessBroker

ROUTES = ["/", "/p/abcd1234", "/p/abcd1234/present", "/p/abcd1234/admin",
          "/p/ABCD1234", "/p/abcd%201234", "/p/abcd1234/"]  # the client normalizes ids


async def serve(tmp_path: Path, static_dir: Path) -> tuple[Server, Api]:
    cfg = make_config(tmp_path, server={"static_dir": str(static_dir)})
    server = Server(cfg, make_storage(cfg), InProcessBroker())
    port = await server.start("127.0.0.1", 0)
    return server, Api(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("path", ROUTES)
async def test_without_a_built_client_pages_say_how_to_build_it(tmp_path: Path, path: str) -> None:
    server, api = await serve(tmp_path, tmp_path / "no-such-dist")
    try:
        r = await api.get(path)
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/html")
        assert b"npm ci" in r.body and b"./build.sh serve" in r.body
        # The API still answers.
        assert (await api.get("/api/polls")).status == 200
    finally:
        api.close()
        await server.stop()


async def test_built_client_is_served_for_every_route_and_its_assets(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>client</title><div id=root></div>")
    (dist / "assets" / "app-1234.js").write_text("console.log('hi')")
    server, api = await serve(tmp_path, dist)
    try:
        for path in ROUTES:
            r = await api.get(path)
            assert r.status == 200 and b"<div id=root>" in r.body, path
            head = await api.request("HEAD", path)
            assert head.status == 200 and head.body == b"", path
        js = await api.get("/assets/app-1234.js")
        assert js.status == 200 and b"console.log" in js.body
        assert "immutable" in js.headers.get("Cache-Control", "")
        missing = await api.get("/assets/nope.js")
        assert missing.status == 404 and missing.error_code == "not_found"
        # Any other path: 404 with the client's own "page not found" (DESIGN §8).
        for path in ("/q/abcd1234", "/nope", "/p/abcd1234/extra", "/index.html.bak"):
            other = await api.get(path)
            assert other.status == 404 and b"<div id=root>" in other.body, path
            assert other.headers["Content-Type"].startswith("text/html"), path
        # The server's own paths keep their JSON 404.
        for path in ("/api/nope", "/api", "/metrics/x", "/healthz/x", "/ws/x"):
            r = await api.get(path)
            assert (r.status, r.error_code) == (404, "not_found"), path
    finally:
        api.close()
        await server.stop()
