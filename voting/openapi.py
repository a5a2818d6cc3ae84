"""The OpenAPI 3.1 document of the HTTP API (DESIGN.md §4)."""
from __future__ import annotations

from typing import Any

from voting import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {400: "Invalid JSON", 401: "Credentials required", 403: "Forbidden",
             404: "Not found", 409: "Conflict", 413: "Body over 64 KiB", 415: "Body is not JSON",
             422: "Validation failed", 429: "Rate limited", 503: "Storage unavailable"}
    return {str(s): _json(_ref("Error"), texts[s]) for s in statuses}


POLL_ID = {"name": "id", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": "^[a-z0-9]{8}$"}}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "maxLength": 200},
               "description": "Repeats with the same body within 24 h return the first response."}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
    "OptionIn": {"type": "object", "required": ["label"], "additionalProperties": False,
                 "properties": {"label": {"type": "string", "minLength": 1, "maxLength": 200}}},
    "QuestionIn": {
        "type": "object", "required": ["text"], "additionalProperties": False,
        "description": "single, multiple and ranked questions need options; a scale question "
                       "takes scale_min and scale_max instead and the server makes one option "
                       "per point (label = the number).",
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 500},
            "kind": {"enum": ["single", "multiple", "ranked", "scale"], "default": "single"},
            "min_choices": {"type": "integer", "minimum": 0,
                            "description": "multiple and ranked: default 1 (single, scale: 1)"},
            "max_choices": {"type": "integer", "minimum": 0,
                            "description": "multiple: default the number of options; ranked: "
                                           "how many ranks may be filled, default all options, "
                                           "at least 1 (single, scale: 1)"},
            "options": {"type": "array", "minItems": 2, "maxItems": 50,
                        "items": _ref("OptionIn"),
                        "description": "required except for scale, where it is refused"},
            "scale_min": {"type": "integer", "minimum": 0, "maximum": 9,
                          "description": "scale only (required there); below scale_max"},
            "scale_max": {"type": "integer", "minimum": 1, "maximum": 10,
                          "description": "scale only (required there); at most 11 points"},
            "min_label": {"type": ["string", "null"], "maxLength": 200,
                          "description": "scale only: the text of the lowest point"},
            "max_label": {"type": ["string", "null"], "maxLength": 200,
                          "description": "scale only: the text of the highest point"}}},
    "PollIn": {"type": "object", "required": ["title", "questions"], "additionalProperties": False,
               "properties": {
                   "title": {"type": "string", "minLength": 1, "maxLength": 200},
                   "description": {"type": "string", "maxLength": 2000, "default": ""},
                   "results": {"enum": ["live", "after_close"], "default": "live"},
                   "show_results": {"enum": ["always", "after_vote"], "default": "always"},
                   "allow_revote": {"type": "boolean", "default": False},
                   "eligibility": {"enum": ["open", "codes"], "default": "open"},
                   "code_count": {"type": ["integer", "null"], "minimum": 1, "maximum": 10000},
                   "visibility": {"enum": ["unlisted", "public"], "default": "unlisted"},
                   "closes_at": {"type": ["string", "null"], "format": "date-time"},
                   "questions": {"type": "array", "minItems": 1, "maxItems": 20,
                                 "items": _ref("QuestionIn")}}},
    "Option": {"type": "object", "required": ["id", "label"],
               "properties": {"id": {"type": "string"}, "label": {"type": "string"}}},
    "Question": {"type": "object", "required": ["id", "text", "kind", "min_choices", "max_choices",
                                                "options"],
                 "description": "A scale question also carries scale_min, scale_max, min_label "
                                "and max_label (always, labels null when not given); its "
                                "options are its points in order, label = the number.",
                 "properties": {"id": {"type": "string"}, "text": {"type": "string"},
                                "kind": {"enum": ["single", "multiple", "ranked", "scale"]},
                                "min_choices": {"type": "integer"},
                                "max_choices": {"type": "integer"},
                                "options": {"type": "array", "items": _ref("Option")},
                                "scale_min": {"type": "integer", "minimum": 0, "maximum": 9},
                                "scale_max": {"type": "integer", "minimum": 1, "maximum": 10},
                                "min_label": {"type": ["string", "null"]},
                                "max_label": {"type": ["string", "null"]}}},
    "Round": {"type": "object", "required": ["counts", "eliminated", "exhausted"],
              "additionalProperties": False,
              "description": "One instant-runoff round: every ballot counted for its "
                             "highest-ranked option still in the race; sum(counts) + exhausted "
                             "= total.",
              "properties": {
                  "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                             "description": "the options still in the race this round, "
                                            "in listing order (eliminated ones are absent)"},
                  "eliminated": {"type": "array", "items": {"type": "string"}, "maxItems": 1,
                                 "description": "the option eliminated after this round; "
                                                "empty in the last round"},
                  "exhausted": {"type": "integer",
                                "description": "ballots ranking no option still in the race"}}},
    "QuestionCounts": {"type": "object", "required": ["id", "counts"], "properties": {
        "id": {"type": "string"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                   "description": "every option, zeros included; ranked: first preferences"},
        "rounds": {"type": "array", "items": _ref("Round"), "minItems": 1,
                   "description": "ranked questions only: the instant-runoff count"},
        "winner": {"type": ["string", "null"],
                   "description": "ranked questions only: the option with more than half of "
                                  "the ballots not exhausted in the last round; null while no "
                                  "ballot ranks anything"},
        "mean": {"type": ["number", "null"],
                 "description": "scale questions only: the mean point; null with no votes"},
        "median": {"type": ["number", "null"],
                   "description": "scale questions only: the median point (the mean of the two "
                                  "middle points for an even count); null with no votes"}}},
    "Tally": {"type": "object", "required": ["seq", "total"], "properties": {
        "seq": {"type": "integer"}, "total": {"type": "integer"},
        "questions": {"type": "array", "items": _ref("QuestionCounts")}}},
    "Poll": {"type": "object",
             "required": ["id", "title", "description", "results", "show_results",
                          "allow_revote", "eligibility", "visibility", "status", "created_at",
                          "closed_at", "closes_at", "questions"],
             "properties": {
                 "id": {"type": "string"}, "title": {"type": "string"},
                 "description": {"type": "string"}, "results": {"enum": ["live", "after_close"]},
                 "show_results": {"enum": ["always", "after_vote"]},
                 "allow_revote": {"type": "boolean"}, "eligibility": {"enum": ["open", "codes"]},
                 "code_count": {"type": ["integer", "null"]},
                 "visibility": {"enum": ["unlisted", "public"]},
                 "status": {"enum": ["open", "closed"]},
                 "closes_at": {"type": ["string", "null"], "format": "date-time"},
                 "created_at": {"type": "string", "format": "date-time"},
                 "closed_at": {"type": ["string", "null"], "format": "date-time"},
                 "questions": {"type": "array", "items": _ref("Question")},
                 "tally": _ref("Tally")}},
    "PollSummary": {"type": "object", "required": ["id", "title", "status", "created_at", "total"],
                    "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                   "status": {"enum": ["open", "closed"]},
                                   "created_at": {"type": "string", "format": "date-time"},
                                   "total": {"type": "integer"}}},
    "Results": {"type": "object", "required": ["poll_id", "status", "seq", "total", "questions"],
                "properties": {"poll_id": {"type": "string"},
                               "status": {"enum": ["open", "closed"]},
                               "seq": {"type": "integer"}, "total": {"type": "integer"},
                               "questions": {"type": "array", "items": _ref("QuestionCounts")}}},
    "BallotIn": {"type": "object", "required": ["choices"], "additionalProperties": False,
                 "properties": {
                     "choices": {"type": "object", "additionalProperties": {
                         "type": "array", "items": {"type": "string"}, "uniqueItems": True},
                         "description": "question id -> chosen option ids (distinct); for a "
                                        "ranked question in rank order, most preferred "
                                        "first; for a scale question the one point's option"},
                     "code": {"type": "string", "maxLength": 64}}},
    "Ballot": {"type": "object", "required": ["poll_id", "choices", "receipt"], "properties": {
        "poll_id": {"type": "string"}, "receipt": {"type": "string"},
        "choices": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string"}}}}},
}


def document() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"adminToken": []}]
    poll_reply = _json({"type": "object", "required": ["poll"],
                        "properties": {"poll": _ref("Poll")}}, "The poll")
    ballot_reply = {"type": "object", "required": ["ballot"],
                    "properties": {"ballot": _ref("Ballot")}}
    health = _json({"type": "object", "required": ["status"],
                    "properties": {"status": {"type": "string"}}}, "Status")
    return {
        "openapi": "3.1.0",
        "info": {"title": "voting", "version": __version__,
                 "description": "Real-time voting server. Live tallies: WebSocket GET /ws."},
        "paths": {
            "/api/polls": {
                "post": {"summary": "Create a poll", "operationId": "createPoll",
                         "parameters": [IDEMPOTENCY],
                         "requestBody": {"required": True, "content": {
                             "application/json": {"schema": _ref("PollIn")}}},
                         "responses": {"201": _json({
                             "type": "object", "required": ["poll", "admin_token"],
                             "properties": {"poll": _ref("Poll"), "admin_token": {"type": "string"},
                                            "codes": {"type": "array",
                                                      "items": {"type": "string"}}}},
                             "Created"), **_errors(400, 401, 413, 415, 422, 429)}},
                "get": {"summary": "List public polls, newest first", "operationId": "listPolls",
                        "parameters": [
                            {"name": "limit", "in": "query",
                             "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                        "default": 20}},
                            {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
                        "responses": {"200": _json({
                            "type": "object", "required": ["polls", "next_cursor"],
                            "properties": {"polls": {"type": "array", "items": _ref("PollSummary")},
                                           "next_cursor": {"type": ["string", "null"]}}}, "A page"),
                            **_errors(422)}},
            },
            "/api/polls/{id}": {
                "parameters": [POLL_ID],
                "get": {"summary": "A poll, with its tally when visible", "operationId": "getPoll",
                        "responses": {"200": poll_reply, **_errors(404)}},
                "delete": {"summary": "Delete a poll", "operationId": "deletePoll",
                           "security": bearer,
                           "responses": {"204": {"description": "Deleted"},
                                         **_errors(401, 403, 404)}},
            },
            "/api/polls/{id}/results": {
                "parameters": [POLL_ID,
                               {"name": "format", "in": "query",
                                "schema": {"enum": ["json", "csv"]}}],
                "get": {"summary": "Results (JSON, or CSV with Accept: text/csv or ?format=csv)",
                        "operationId": "getResults",
                        "responses": {"200": {"description": "Results", "content": {
                            "application/json": {"schema": _ref("Results")},
                            "text/csv": {"schema": {"type": "string"}}}},
                            **_errors(403, 404)}},
            },
            "/api/voters": {
                "post": {"summary": "Get a voter token (also set as the cookie 'voter')",
                         "operationId": "createVoter",
                         "responses": {"201": _json({
                             "type": "object", "required": ["voter_token"],
                             "properties": {"voter_token": {"type": "string"}}}, "Token"),
                             **_errors(429)}},
            },
            "/api/polls/{id}/ballots": {
                "parameters": [POLL_ID],
                "post": {"summary": "Cast (or, with revote, replace) the caller's ballot",
                         "operationId": "castBallot",
                         "parameters": [IDEMPOTENCY,
                                        {"name": "X-Voter-Token", "in": "header",
                                         "schema": {"type": "string"}}],
                         "requestBody": {"required": True, "content": {
                             "application/json": {"schema": _ref("BallotIn")}}},
                         "responses": {"201": _json(ballot_reply, "Accepted"),
                                       "200": _json(ballot_reply, "Replaced (revote)"),
                                       **_errors(400, 401, 403, 404, 409, 413, 415, 422, 429)}},
            },
            "/api/polls/{id}/ballot": {
                "parameters": [POLL_ID],
                "get": {"summary": "The caller's current ballot (voter token, or code and the "
                                   "receipt of that code's ballot)",
                        "operationId": "getBallot",
                        "parameters": [{"name": "code", "in": "query",
                                        "schema": {"type": "string"}},
                                       {"name": "receipt", "in": "query",
                                        "schema": {"type": "string"}}],
                        "responses": {"200": _json(ballot_reply, "The ballot"),
                                      **_errors(401, 403, 404, 429)}},
            },
            "/api/polls/{id}/codes/{code}": {
                "parameters": [POLL_ID, {"name": "code", "in": "path", "required": True,
                                         "schema": {"type": "string"}}],
                "get": {"summary": "Whether an access code is unused or used (rate-limited with "
                                   "ballots)",
                        "operationId": "checkCode",
                        "responses": {"200": _json({
                            "type": "object", "required": ["status"],
                            "properties": {"status": {"enum": ["unused", "used"]}}}, "The code"),
                            **_errors(403, 404, 429)}},
            },
            "/api/polls/{id}/close": {
                "parameters": [POLL_ID],
                "post": {"summary": "Close a poll", "operationId": "closePoll", "security": bearer,
                         "responses": {"200": poll_reply, **_errors(401, 403, 404)}},
            },
            "/api/polls/{id}/reopen": {
                "parameters": [POLL_ID],
                "post": {"summary": "Reopen a poll", "operationId": "reopenPoll",
                         "security": bearer,
                         "responses": {"200": poll_reply, **_errors(401, 403, 404)}},
            },
            "/api/openapi.json": {
                "get": {"summary": "This document", "operationId": "openapi",
                        "responses": {"200": {"description": "OpenAPI 3.1 document"}}},
            },
            "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz",
                                 "responses": {"200": health}}},
            "/readyz": {"get": {"summary": "Readiness (storage and broker)",
                                "operationId": "readyz",
                                "responses": {"200": health, "503": health}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics",
                                 "responses": {"200": {"description": "Prometheus text format",
                                                       "content": {"text/plain": {
                                                           "schema": {"type": "string"}}}}}}},
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }
