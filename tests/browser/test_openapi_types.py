"""The web client's generated API types (client/src/api/schema.ts) come from client/openapi.json;
that file must be the server's current OpenAPI document, else the client is typed against an old
contract.  Regenerate both with `cd client && npm run gen:api`."""
from __future__ import annotations

import json
from pathlib import Path

from voting.openapi import document

CLIENT = Path(__file__).resolve().parents[2] / "client"


def test_the_clients_openapi_copy_is_the_servers_document() -> None:
    committed = json.loads((CLIENT / "openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(document())), (
        "client/openapi.json is behind voting.openapi.document(): run `npm run gen:api` in client/")
    schema = (CLIENT / "src" / "api" / "schema.ts").read_text(encoding="utf-8")
    for name in committed["components"]["schemas"]:
        assert f"{name}: {{" in schema, f"schema.ts lacks {name}: run `npm run gen:api` in client/"
