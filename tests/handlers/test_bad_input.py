"""Malformed requests: each gets its exact status and error code, and changes nothing.

Every case runs against a fresh server holding an open public poll (q1 single o1-o3,
q2 multiple 1-2 o4-o6) with one ballot, a `codes` poll and an `after_close` poll.
"""
from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.client import Api
from tests.conftest import RunningServer
from tests.handlers.helpers import assert_error, db_state, in_seconds, poll_body, \
    two_question_body

NO_BODY = object()
VALID_BALLOT = {"choices": {"q1": ["o1"], "q2": ["o4"]}}
VOTER = {"X-Voter-Token": "{voter}"}


@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    code: str
    body: Any = NO_BODY  # sent as JSON
    raw: bytes | None = None  # sent as is
    headers: dict[str, str] = field(default_factory=dict)
    setup: str | None = None


def q(**over: Any) -> dict[str, Any]:
    """A valid question with overrides (None deletes the key)."""
    base: dict[str, Any] = {"text": "Q?", "kind": "single",
                            "options": [{"label": "A"}, {"label": "B"}, {"label": "C"}]}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def opts(n: int) -> list[dict[str, str]]:
    return [{"label": f"option {i}"} for i in range(n)]


def poll_without(key: str) -> dict[str, Any]:
    body = poll_body()
    del body[key]
    return body


def create(id_: str, body: Any, code: str = "invalid_poll", status: int = 422) -> Case:
    return Case(id_, "POST", "/api/polls", status, code, body=body)


def create_raw(id_: str, raw: bytes) -> Case:
    return Case(id_, "POST", "/api/polls", 400, "invalid_json", raw=raw)


def ballot(id_: str, body: Any, code: str = "invalid_ballot", status: int = 422,
           poll: str = "{open}", headers: dict[str, str] | None = None) -> Case:
    return Case(id_, "POST", f"/api/polls/{poll}/ballots", status, code, body=body,
                headers=VOTER if headers is None else headers)


def ballot_raw(id_: str, raw: bytes) -> Case:
    return Case(id_, "POST", "/api/polls/{open}/ballots", 400, "invalid_json", raw=raw,
                headers=VOTER)


BIG = 70 * 1024

CASES: list[Case] = [
    # --- invalid JSON ------------------------------------------------------
    create_raw("json-truncated", b'{"title": "Lunch?", "questions": ['),
    create_raw("json-trailing-garbage", json.dumps(poll_body()).encode() + b" xyz"),
    create_raw("json-two-objects", json.dumps(poll_body()).encode() * 2),
    create_raw("json-nan", b'{"title": NaN, "questions": []}'),
    create_raw("json-infinity", b'{"title": "x", "code_count": Infinity}'),
    create_raw("json-non-utf8", b'{"title": "\xff\xfe caf\xe9", "questions": []}'),
    create_raw("json-empty-body", b""),
    create_raw("json-single-quotes", b"{'title': 'Lunch?'}"),
    create_raw("json-whitespace-only", b"   \n"),
    ballot_raw("ballot-json-truncated", b'{"choices": {"q1": ["o1"'),
    ballot_raw("ballot-json-empty", b""),
    ballot_raw("ballot-json-non-utf8", b'{"choices": {"q1": ["o\xc3\x28"]}}'),
    ballot_raw("ballot-json-nan", b'{"choices": NaN}'),
    # --- valid JSON that is not an object ------------------------------------
    create("not-object-array", [poll_body()]),
    create("not-object-string", "Lunch?"),
    create("not-object-number", 42),
    create("not-object-null", None),
    create("not-object-bool", True),
    ballot("ballot-not-object-array", [VALID_BALLOT]),
    ballot("ballot-not-object-string", "o1"),
    ballot("ballot-not-object-number", 1),
    ballot("ballot-not-object-null", None),
    # --- wrong types, poll level ---------------------------------------------
    create("title-number", poll_body(title=5)),
    create("title-array", poll_body(title=["Lunch?"])),
    create("title-null", poll_body(title=None)),
    create("description-number", poll_body(description=5)),
    create("description-object", poll_body(description={"text": "x"})),
    create("results-unknown", poll_body(results="sometimes")),
    create("results-number", poll_body(results=1)),
    create("allow-revote-string", poll_body(allow_revote="yes")),
    create("allow-revote-number", poll_body(allow_revote=1)),
    create("eligibility-unknown", poll_body(eligibility="everyone")),
    create("visibility-unknown", poll_body(visibility="private")),
    create("visibility-bool", poll_body(visibility=True)),
    create("code-count-string", poll_body(eligibility="codes", code_count="5")),
    create("code-count-float", poll_body(eligibility="codes", code_count=2.5)),
    create("code-count-bool", poll_body(eligibility="codes", code_count=True)),
    create("code-count-for-open-poll", poll_body(code_count=5)),
    create("closes-at-number", poll_body(closes_at=1893456000)),
    create("questions-object", poll_body(questions={"q1": q()})),
    create("questions-string", poll_body(questions="Where?")),
    # --- wrong types, question and option level -----------------------------
    create("question-string", poll_body(questions=["Where?"])),
    create("question-text-number", poll_body(questions=[q(text=5)])),
    create("question-kind-unknown", poll_body(questions=[q(kind="plurality")])),
    create("question-kind-number", poll_body(questions=[q(kind=1)])),
    create("question-min-string", poll_body(questions=[q(kind="multiple", min_choices="1")])),
    create("question-max-float", poll_body(questions=[q(kind="multiple", max_choices=1.5)])),
    create("question-max-bool", poll_body(questions=[q(kind="multiple", max_choices=True)])),
    create("question-options-string", poll_body(questions=[q(options="A,B")])),
    create("question-options-object", poll_body(questions=[q(options={"a": {"label": "A"}})])),
    create("option-string", poll_body(questions=[q(options=["A", "B"])])),
    create("option-label-number", poll_body(questions=[q(options=[{"label": 1}, {"label": 2}])])),
    create("option-label-null", poll_body(questions=[q(options=[{"label": None}, {"label": "B"}])])),
    # --- missing required fields ---------------------------------------------
    create("missing-title", poll_without("title")),
    create("missing-questions", poll_without("questions")),
    create("missing-question-text", poll_body(questions=[q(text=None)])),
    create("missing-options", poll_body(questions=[q(options=None)])),
    create("missing-label", poll_body(questions=[q(options=[{}, {"label": "B"}])])),
    create("empty-object", {}),
    # --- unknown fields at every level ---------------------------------------
    create("unknown-field-poll", poll_body(colour="red"), "unknown_field"),
    create("unknown-field-question", poll_body(questions=[q(hint="x")]), "unknown_field"),
    create("unknown-field-option",
           poll_body(questions=[q(options=[{"label": "A", "id": "o9"}, {"label": "B"}])]),
           "unknown_field"),
    ballot("unknown-field-ballot", {**VALID_BALLOT, "voter": "me"}, "unknown_field"),
    # --- sizes ---------------------------------------------------------------
    create("title-201", poll_body(title="t" * 201)),
    create("title-empty", poll_body(title="")),
    create("title-blank", poll_body(title="   ")),
    create("description-2001", poll_body(description="d" * 2001)),
    create("questions-0", poll_body(questions=[])),
    create("questions-21", poll_body(questions=[q(text=f"Q{i}") for i in range(21)])),
    create("options-1", poll_body(questions=[q(options=opts(1))])),
    create("options-0", poll_body(questions=[q(options=[])])),
    create("options-51", poll_body(questions=[q(options=opts(51))])),
    create("label-201", poll_body(questions=[q(options=[{"label": "l" * 201}, {"label": "B"}])])),
    create("label-empty", poll_body(questions=[q(options=[{"label": ""}, {"label": "B"}])])),
    create("text-501", poll_body(questions=[q(text="x" * 501)])),
    create("text-blank", poll_body(questions=[q(text=" ")])),
    create("code-count-0", poll_body(eligibility="codes", code_count=0)),
    create("code-count-10001", poll_body(eligibility="codes", code_count=10001)),
    create("code-count-negative", poll_body(eligibility="codes", code_count=-1)),
    create("code-count-missing", poll_body(eligibility="codes")),
    create("min-over-max", poll_body(questions=[q(kind="multiple", min_choices=3,
                                                   max_choices=2)])),
    create("max-over-options", poll_body(questions=[q(kind="multiple", max_choices=4)])),
    create("min-negative", poll_body(questions=[q(kind="multiple", min_choices=-1)])),
    create("single-min-2", poll_body(questions=[q(kind="single", min_choices=2)])),
    create("single-max-3", poll_body(questions=[q(kind="single", max_choices=3)])),
    # --- closes_at -----------------------------------------------------------
    create("closes-at-past", poll_body(closes_at="2020-01-01T00:00:00Z")),
    create("closes-at-not-a-time", poll_body(closes_at="tomorrow")),
    create("closes-at-no-timezone", poll_body(closes_at=in_seconds(86400)[:-1])),
    create("closes-at-date-only", poll_body(closes_at=in_seconds(86400)[:10])),
    create("closes-at-bad-month", poll_body(closes_at="2031-13-01T00:00:00Z")),
    create("closes-at-year-10000-utc", poll_body(closes_at="9999-12-31T23:59:59-12:00")),
    # --- body too large ------------------------------------------------------
    Case("poll-70KiB", "POST", "/api/polls", 413, "payload_too_large",
         body=poll_body(description="x" * BIG)),
    Case("ballot-70KiB", "POST", "/api/polls/{open}/ballots", 413, "payload_too_large",
         body={"choices": {"q1": ["o1"] * (BIG // 6)}}, headers=VOTER),
    Case("poll-70KiB-not-json", "POST", "/api/polls", 413, "payload_too_large", raw=b"x" * BIG),
    Case("voters-70KiB", "POST", "/api/voters", 413, "payload_too_large", raw=b"x" * BIG),
    Case("close-70KiB", "POST", "/api/polls/{open}/close", 413, "payload_too_large",
         raw=b"x" * BIG),
    Case("delete-70KiB", "DELETE", "/api/polls/{open}", 413, "payload_too_large",
         raw=b"x" * BIG),
    # --- duplicate labels ----------------------------------------------------
    create("duplicate-labels", poll_body(questions=[q(options=[{"label": "A"}, {"label": "A"}])])),
    create("duplicate-labels-space",
           poll_body(questions=[q(options=[{"label": "Yes"}, {"label": " Yes "}])])),
    create("duplicate-labels-nfc-nfd",
           poll_body(questions=[q(options=[{"label": "caf\u00e9"}, {"label": "cafe\u0301"}])])),
    # --- ballots -------------------------------------------------------------
    ballot("ballot-duplicate-option", {"choices": {"q1": ["o1"], "q2": ["o4", "o4"]}}),
    ballot("ballot-foreign-option", {"choices": {"q1": ["o4"], "q2": ["o5"]}}),
    ballot("ballot-unknown-option", {"choices": {"q1": ["o99"], "q2": ["o4"]}}),
    ballot("ballot-unknown-question", {"choices": {"q1": ["o1"], "q2": ["o4"], "q9": ["o1"]}}),
    ballot("ballot-too-many", {"choices": {"q1": ["o1"], "q2": ["o4", "o5", "o6"]}}),
    ballot("ballot-too-many-single", {"choices": {"q1": ["o1", "o2"], "q2": ["o4"]}}),
    ballot("ballot-too-few", {"choices": {"q1": [], "q2": ["o4"]}}),
    ballot("ballot-question-missing", {"choices": {"q2": ["o4"]}}),
    ballot("ballot-choices-empty", {"choices": {}}),
    ballot("ballot-choices-array", {"choices": ["o1", "o4"]}),
    ballot("ballot-choices-string", {"choices": "o1"}),
    ballot("ballot-choices-missing", {}),
    ballot("ballot-choice-not-list", {"choices": {"q1": "o1", "q2": ["o4"]}}),
    ballot("ballot-choice-numbers", {"choices": {"q1": [1], "q2": ["o4"]}}),
    ballot("ballot-choice-null-item", {"choices": {"q1": [None], "q2": ["o4"]}}),
    ballot("ballot-choice-object-item", {"choices": {"q1": [{"id": "o1"}], "q2": ["o4"]}}),
    ballot("ballot-code-number", {**VALID_BALLOT, "code": 5}),
    ballot("ballot-code-too-long", {**VALID_BALLOT, "code": "c" * 65}),
    ballot("ballot-no-voter", VALID_BALLOT, "voter_required", 401, headers={}),
    ballot("ballot-forged-voter", VALID_BALLOT, "voter_required", 401,
           headers={"X-Voter-Token": "v1.forged-voter-id.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
    ballot("ballot-garbage-voter", VALID_BALLOT, "voter_required", 401,
           headers={"X-Voter-Token": "not a token"}),
    ballot("ballot-forged-cookie", VALID_BALLOT, "voter_required", 401,
           headers={"Cookie": "voter=v1.x.y"}),
    ballot("codes-ballot-without-code", {"choices": {"q1": ["o1"]}}, "voter_required", 401,
           poll="{codes}"),
    ballot("codes-ballot-wrong-code", {"choices": {"q1": ["o1"]}, "code": "zzzzzzzzzz"},
           "invalid_code", 403, poll="{codes}"),
    ballot("ballot-missing-poll", VALID_BALLOT, "poll_not_found", 404, poll="zzzzzzzz"),
    ballot("ballot-bad-poll-id", VALID_BALLOT, "poll_not_found", 404, poll="NOT-AN-ID"),
    Case("ballot-bad-idempotency-key", "POST", "/api/polls/{open}/ballots", 422,
         "invalid_idempotency_key", body=VALID_BALLOT,
         headers={**VOTER, "Idempotency-Key": "k" * 201}),
    # --- unknown paths, wrong methods ----------------------------------------
    Case("path-unknown-api", "GET", "/api/nope", 404, "not_found"),
    Case("path-unknown-server", "GET", "/metrics/nope", 404, "not_found"),
    Case("path-unknown-root-post", "POST", "/nope", 404, "not_found", body={}),
    Case("path-too-deep", "GET", "/api/polls/{open}/results/extra", 404, "not_found"),
    Case("path-trailing-slash", "GET", "/api/polls/", 404, "not_found"),
    Case("path-unknown-post", "POST", "/api/vote", 404, "not_found", body=VALID_BALLOT),
    Case("path-unknown-action", "POST", "/api/polls/{open}/archive", 404, "not_found"),
    Case("method-put-polls", "PUT", "/api/polls", 405, "method_not_allowed", body=poll_body()),
    Case("method-delete-polls", "DELETE", "/api/polls", 405, "method_not_allowed"),
    Case("method-patch-poll", "PATCH", "/api/polls/{open}", 405, "method_not_allowed",
         body={"title": "x"}),
    Case("method-post-poll", "POST", "/api/polls/{open}", 405, "method_not_allowed",
         body=poll_body()),
    Case("method-get-voters", "GET", "/api/voters", 405, "method_not_allowed"),
    Case("method-get-close", "GET", "/api/polls/{open}/close", 405, "method_not_allowed"),
    Case("method-post-results", "POST", "/api/polls/{open}/results", 405, "method_not_allowed"),
    Case("method-get-ballots", "GET", "/api/polls/{open}/ballots", 405, "method_not_allowed"),
    Case("method-delete-ballots", "DELETE", "/api/polls/{open}/ballots", 405,
         "method_not_allowed", headers=VOTER),
    Case("method-post-ballot", "POST", "/api/polls/{open}/ballot", 405, "method_not_allowed",
         body=VALID_BALLOT, headers=VOTER),
    Case("method-post-healthz", "POST", "/healthz", 405, "method_not_allowed"),
    Case("method-post-openapi", "POST", "/api/openapi.json", 405, "method_not_allowed"),
    Case("method-propfind", "PROPFIND", "/api/polls", 405, "method_not_allowed"),
    Case("method-post-ws", "POST", "/ws", 405, "method_not_allowed"),
    # --- bad poll ids --------------------------------------------------------
    Case("poll-id-uppercase", "GET", "/api/polls/ABCDEFGH", 404, "poll_not_found"),
    Case("poll-id-short", "GET", "/api/polls/abc", 404, "poll_not_found"),
    Case("poll-id-long", "GET", "/api/polls/abcdefghi", 404, "poll_not_found"),
    Case("poll-id-sql", "GET", "/api/polls/%27%20OR%201%3D1--/results", 404, "poll_not_found"),
    Case("poll-id-missing", "GET", "/api/polls/zzzzzzzz", 404, "poll_not_found"),
    Case("poll-id-missing-results", "GET", "/api/polls/zzzzzzzz/results", 404, "poll_not_found"),
    Case("poll-id-missing-ballot", "GET", "/api/polls/zzzzzzzz/ballot", 404, "poll_not_found",
         headers=VOTER),
    Case("poll-id-missing-close", "POST", "/api/polls/zzzzzzzz/close", 404, "poll_not_found",
         headers={"Authorization": "Bearer {admin_open}"}),
    Case("poll-id-missing-delete", "DELETE", "/api/polls/zzzzzzzz", 404, "poll_not_found",
         headers={"Authorization": "Bearer {admin_open}"}),
    # --- invalid queries -----------------------------------------------------
    Case("limit-0", "GET", "/api/polls?limit=0", 422, "invalid_query"),
    Case("limit-101", "GET", "/api/polls?limit=101", 422, "invalid_query"),
    Case("limit-abc", "GET", "/api/polls?limit=abc", 422, "invalid_query"),
    Case("limit-negative", "GET", "/api/polls?limit=-1", 422, "invalid_query"),
    Case("limit-float", "GET", "/api/polls?limit=1.5", 422, "invalid_query"),
    Case("limit-empty", "GET", "/api/polls?limit=", 422, "invalid_query"),
    Case("limit-superscript", "GET", "/api/polls?limit=%C2%B2", 422, "invalid_query"),
    Case("cursor-garbage", "GET", "/api/polls?cursor=!!!", 422, "invalid_query"),
    Case("cursor-not-a-cursor", "GET", "/api/polls?cursor=bm90LWEtY3Vyc29y", 422,
         "invalid_query"),
    Case("cursor-too-long", "GET", "/api/polls?cursor=" + "A" * 300, 422, "invalid_query"),
    Case("results-format-xml", "GET", "/api/polls/{open}/results?format=xml", 422,
         "invalid_query"),
    Case("ballot-code-query-too-long", "GET", "/api/polls/{codes}/ballot?code=" + "c" * 65, 422,
         "invalid_query"),
    # --- voters and codes on GET ballot --------------------------------------
    Case("get-ballot-no-voter", "GET", "/api/polls/{open}/ballot", 401, "voter_required"),
    Case("get-ballot-forged-voter", "GET", "/api/polls/{open}/ballot", 401, "voter_required",
         headers={"X-Voter-Token": "v1.abc.def"}),
    Case("get-ballot-codes-without-code", "GET", "/api/polls/{codes}/ballot", 401,
         "voter_required", headers=VOTER),
    Case("get-ballot-wrong-code", "GET", "/api/polls/{codes}/ballot?code=zzzzzzzzzz", 404,
         "no_ballot"),
    # --- admin ---------------------------------------------------------------
    Case("close-without-token", "POST", "/api/polls/{open}/close", 401, "admin_required"),
    Case("close-wrong-token", "POST", "/api/polls/{open}/close", 403, "forbidden",
         headers={"Authorization": "Bearer not-the-token"}),
    Case("close-other-polls-token", "POST", "/api/polls/{open}/close", 403, "forbidden",
         headers={"Authorization": "Bearer {admin_codes}"}),
    Case("close-basic-auth", "POST", "/api/polls/{open}/close", 401, "admin_required",
         headers={"Authorization": "Basic YWRtaW46YWRtaW4="}),
    Case("close-empty-bearer", "POST", "/api/polls/{open}/close", 401, "admin_required",
         headers={"Authorization": "Bearer "}),
    Case("reopen-without-token", "POST", "/api/polls/{open}/reopen", 401, "admin_required"),
    Case("reopen-wrong-token", "POST", "/api/polls/{open}/reopen", 403, "forbidden",
         headers={"Authorization": "Bearer not-the-token"}),
    Case("delete-without-token", "DELETE", "/api/polls/{open}", 401, "admin_required"),
    Case("delete-wrong-token", "DELETE", "/api/polls/{open}", 403, "forbidden",
         headers={"Authorization": "Bearer {admin_codes}"}),
    Case("results-hidden", "GET", "/api/polls/{after}/results", 403, "results_hidden"),
    Case("results-hidden-wrong-token", "GET", "/api/polls/{after}/results?format=csv", 403,
         "results_hidden", headers={"Authorization": "Bearer {admin_open}"}),
    # --- Idempotency-Key reused with a different body ------------------------
    Case("idempotency-reused-poll", "POST", "/api/polls", 422, "idempotency_key_reused",
         body=poll_body(title="Something else"),
         headers={**VOTER, "Idempotency-Key": "key-1"}, setup="idem_poll"),
    Case("idempotency-reused-ballot", "POST", "/api/polls/{open}/ballots", 422,
         "idempotency_key_reused", body={"choices": {"q1": ["o2"], "q2": ["o5"]}},
         headers={**VOTER, "Idempotency-Key": "key-2"}, setup="idem_ballot"),
]


@dataclass
class World:
    api: Api
    values: dict[str, str]

    def fill(self, text: str) -> str:
        for k, v in self.values.items():
            text = text.replace("{" + k + "}", v)
        return text


async def make_world(rs: RunningServer) -> World:
    api = rs.api
    open_poll = await api.create_poll(**two_question_body(visibility="public"))
    codes_poll = await api.create_poll(eligibility="codes", code_count=3)
    after_poll = await api.create_poll(results="after_close")
    other = api.session()
    r = await other.post(f"/api/polls/{open_poll['poll']['id']}/ballots",
                         {"choices": {"q1": ["o2"], "q2": ["o5", "o6"]}},
                         headers={"X-Voter-Token": await other.voter()})
    assert r.status == 201, r.body
    voter = await api.session().voter()
    return World(api.session(), {
        "open": open_poll["poll"]["id"], "admin_open": open_poll["admin_token"],
        "codes": codes_poll["poll"]["id"], "admin_codes": codes_poll["admin_token"],
        "after": after_poll["poll"]["id"], "voter": voter})


async def run_setup(world: World, name: str) -> None:
    if name == "idem_poll":
        r = await world.api.post("/api/polls", poll_body(),
                                 headers={"X-Voter-Token": world.values["voter"],
                                          "Idempotency-Key": "key-1"})
        assert r.status == 201, r.body
    elif name == "idem_ballot":
        r = await world.api.post(world.fill("/api/polls/{open}/ballots"), VALID_BALLOT,
                                 headers={"X-Voter-Token": world.values["voter"],
                                          "Idempotency-Key": "key-2"})
        assert r.status == 201, r.body
    else:
        raise AssertionError(name)


async def observable_state(rs: RunningServer, world: World) -> tuple[Any, ...]:
    """What a client sees (public list, results) and what the database holds."""
    api = rs.api.session()
    listed = (await api.get("/api/polls?limit=100")).json
    results = (await api.get(world.fill("/api/polls/{open}/results"))).json
    codes = (await api.get(world.fill("/api/polls/{codes}/results"))).json
    return (listed, results, codes, await db_state(rs))


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_malformed_request(sqlite_server: RunningServer, case: Case) -> None:
    world = await make_world(sqlite_server)
    if case.setup:
        await run_setup(world, case.setup)
    before = await observable_state(sqlite_server, world)
    headers = {k: world.fill(v) for k, v in case.headers.items()}
    kw: dict[str, Any] = {"headers": headers}
    if case.raw is not None:
        headers.setdefault("Content-Type", "application/json")
        kw["body"] = case.raw
    elif case.body is not NO_BODY:
        kw["json_body"] = case.body
        if case.body is None:  # JSON null: json_body=None would mean "no body"
            kw = {"headers": {**headers, "Content-Type": "application/json"}, "body": b"null"}
    r = await world.api.request(case.method, world.fill(case.path), **kw)
    assert_error(r, case.status, case.code)
    assert r.headers.get("X-Backend") == "test1"
    after = await observable_state(sqlite_server, world)
    assert after == before, "a rejected request changed stored state"


# --- text is stored verbatim; control characters are refused --------------------

# Stored as sent, once in NFC (DESIGN §4: text is NFC and trimmed).
VERBATIM = [unicodedata.normalize("NFC", s) for s in [
    "🗳️ Wahl 2030 — 投票 — انتخابات",
    "'; DROP TABLE polls; --",
    '" OR 1=1',
    "<script>alert(1)</script>",
    "&amp; &lt;b&gt;",
    "שלום עולם",  # RTL
    "漢字かな交じり文",
    "Zalgo: Z\u0351\u0364a\u0335l\u0352g\u0351o\u0301",
    "caf\u00e9",
    "a\\b %s %d {0} ${x}",
]]


async def test_unicode_sql_and_html_are_stored_verbatim(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    title = " | ".join(VERBATIM[:4])
    description = "\n".join(VERBATIM) + "\n\ttabbed line"
    body = poll_body(title=title, description=description, visibility="public", questions=[
        {"text": VERBATIM[0], "options": [{"label": s} for s in VERBATIM]},
        {"text": "<b>bold?</b> ' OR ''='", "kind": "multiple",
         "options": [{"label": "&amp;"}, {"label": "&"}]}])
    r = await api.post("/api/polls", body)
    assert r.status == 201, r.body
    poll = r.json["poll"]
    pid = poll["id"]

    def check(p: dict[str, Any]) -> None:
        assert p["title"] == title
        assert p["description"] == description
        assert [o["label"] for o in p["questions"][0]["options"]] == VERBATIM
        assert p["questions"][0]["text"] == VERBATIM[0]
        assert p["questions"][1]["text"] == "<b>bold?</b> ' OR ''='"
        assert [o["label"] for o in p["questions"][1]["options"]] == ["&amp;", "&"]

    check(poll)
    got = await api.get(f"/api/polls/{pid}")
    assert got.status == 200
    assert got.headers["Content-Type"].startswith("application/json")
    check(got.json["poll"])
    assert "<script>alert(1)</script>".encode() in got.body  # raw UTF-8 JSON, not escaped
    listed = (await api.get("/api/polls")).json["polls"]
    assert [p["title"] for p in listed if p["id"] == pid] == [title]
    voter = await api.voter()
    r = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o2"], "q2": [f"o{len(VERBATIM) + 1}"]}},
                       headers={"X-Voter-Token": voter})
    assert r.status == 201, r.body
    text = (await api.get(f"/api/polls/{pid}/results?format=csv")).body.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert [row[3] for row in rows[1:]] == VERBATIM + ["&amp;", "&"]
    assert [row[4] for row in rows[1:]] == ["0", "1"] + ["0"] * (len(VERBATIM) - 2) + ["1", "0"]
    # The SQL-looking strings did nothing: the database still answers for every poll.
    other = await api.create_poll()
    assert (await api.get(f"/api/polls/{other['poll']['id']}")).status == 200
    assert (await sqlite_server.server.storage.recount(pid)).total == 1  # type: ignore[union-attr]


CONTROL = ["\x00", "\x07", "\x1b", "\x7f", "\u2028"]


@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
@pytest.mark.parametrize("where", ["label", "title", "text"])
async def test_control_characters_are_rejected(sqlite_server: RunningServer, char: str,
                                               where: str) -> None:
    bad = f"bad{char}value"
    if where == "label":
        body = poll_body(questions=[q(options=[{"label": bad}, {"label": "ok"}])])
    elif where == "title":
        body = poll_body(title=bad)
    else:
        body = poll_body(questions=[q(text=bad)])
    before = await db_state(sqlite_server)
    r = await sqlite_server.api.post("/api/polls", body)
    assert_error(r, 422, "invalid_poll")
    assert await db_state(sqlite_server) == before


async def test_accepted_boundaries(sqlite_server: RunningServer) -> None:
    """The other side of the limits: the largest valid values are accepted."""
    body = poll_body(title="t" * 200, description="d" * 2000, questions=[
        {"text": "x" * 500, "kind": "multiple", "min_choices": 0, "max_choices": 50,
         "options": [{"label": f"{i:0200d}"} for i in range(50)]}]
        + [q(text=f"Q{i}") for i in range(19)])
    r = await sqlite_server.api.post("/api/polls", body)
    assert r.status == 201, r.body[:300]
    assert len(r.json["poll"]["questions"]) == 20
    assert len(r.json["poll"]["questions"][0]["options"]) == 50
    r = await sqlite_server.api.post("/api/polls", poll_body(eligibility="codes",
                                                              code_count=10000))
    assert r.status == 201, r.body[:300]
    assert len(set(r.json["codes"])) == 10000
