"""Poll endpoints: create, list, read, results (JSON and CSV), close, reopen, delete;
voters, ballots and access codes."""
from __future__ import annotations

import csv
import io
import re

from voting.errors import ApiError, DomainError
from voting.handlers.base import BaseHandler

POLL_ID = re.compile(r"^[a-z0-9]{8}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
# Spreadsheets run a cell starting with one of these as a formula (DESIGN §4: CSV export).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def check_poll_id(poll_id: str) -> str:
    if not POLL_ID.match(poll_id):
        raise ApiError(404, "poll_not_found", "No poll with this id.")
    return poll_id


class ApiHandler(BaseHandler):
    def idempotency_key(self) -> str | None:
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            return None
        if not IDEMPOTENCY_KEY.match(key):
            raise ApiError(422, "invalid_idempotency_key",
                           "Idempotency-Key must be 1 to 200 printable ASCII characters.")
        return key


class PollsHandler(ApiHandler):
    route_name = "/api/polls"

    async def get(self) -> None:
        # Other query parameters are ignored (cache busters, tracking tags).
        raw_limit = self.get_query_argument("limit", "20")
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= 100:
            raise ApiError(422, "invalid_query", "limit must be an integer from 1 to 100.")
        cursor = self.get_query_argument("cursor", None) or None
        if cursor is not None and len(cursor) > 200:
            raise ApiError(422, "invalid_query", "cursor is not valid; use next_cursor as given.")
        self.write_json(200, await self.service.list_polls(int(raw_limit), cursor, self.read_pos))

    async def post(self) -> None:
        body = self.json_body("invalid_poll")
        key = self.idempotency_key()
        caller = self.signer.voter_key(self.voter_token)
        if key is not None and caller is None:
            # A replay carries the admin token and codes: only the same caller may get it.
            raise ApiError(401, "voter_required", "An Idempotency-Key on poll creation needs a "
                                                  "voter token (POST /api/voters first).")
        await self.check_rate("polls")
        reply = await self.service.create_poll(body, key, caller or "")
        if reply.status == 201:
            self.set_header("Location", f"/api/polls/{reply.body['poll']['id']}")
        self.write_reply(reply)


class PollHandler(ApiHandler):
    route_name = "/api/polls/{id}"

    async def get(self, poll_id: str) -> None:
        check_poll_id(poll_id)
        poll = await self.service.poll_with_tally(poll_id, self.admin_token, self.read_pos)
        self.write_json(200, {"poll": poll})

    async def delete(self, poll_id: str) -> None:
        self.refuse_large_body()
        check_poll_id(poll_id)
        # The position cookie: a read right after sees the poll gone, on any replica.
        self.write_reply(await self.service.delete_poll(poll_id, self.admin_token))


class PollStatusHandler(ApiHandler):
    route_name = "/api/polls/{id}/{action}"

    async def post(self, poll_id: str, action: str) -> None:
        self.refuse_large_body()
        check_poll_id(poll_id)
        status = "closed" if action == "close" else "open"
        self.write_reply(await self.service.set_status(poll_id, self.admin_token, status))


class ResultsHandler(ApiHandler):
    route_name = "/api/polls/{id}/results"

    async def get(self, poll_id: str) -> None:
        check_poll_id(poll_id)
        fmt = self.get_query_argument("format", None)
        if fmt not in (None, "json", "csv"):
            raise ApiError(422, "invalid_query", "format must be json or csv.")
        accept = self.request.headers.get("Accept", "")
        want_csv = fmt == "csv" or (fmt is None and "text/csv" in accept)
        poll, tally = await self.service.results(poll_id, self.admin_token, self.read_pos)
        if not want_csv:
            body = {"poll_id": poll.id, "status": tally.status}
            body.update(tally.to_json(poll))
            self.write_json(200, body)
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["question_id", "question", "option_id", "option", "count"])
        for q in poll.questions:
            for o in q.options:
                writer.writerow([q.id, csv_cell(q.text), o["id"], csv_cell(o["label"]),
                                 tally.counts.get(o["id"], 0)])
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="poll-{poll.id}-results.csv"')
        self.finish(out.getvalue().encode("utf-8"))


class VotersHandler(ApiHandler):
    route_name = "/api/voters"

    async def post(self) -> None:
        self.refuse_large_body()
        await self.check_rate("voters")
        token = self.signer.new_voter_token()
        secure = self.request.protocol == "https" or \
            self.request.headers.get("X-Forwarded-Proto") == "https"
        self.set_cookie("voter", token, httponly=True, samesite="Lax", secure=secure,
                        expires_days=365)
        self.write_json(201, {"voter_token": token})


class BallotsHandler(ApiHandler):
    route_name = "/api/polls/{id}/ballots"

    async def post(self, poll_id: str) -> None:
        try:
            check_poll_id(poll_id)
            body = self.json_body("invalid_ballot")
            key = self.idempotency_key()
            # The service admits the ballot against the rate limit only once it knows it is not
            # a repeat: a voter's repeated ballot gets 409, not 429 (DESIGN.md §4).
            reply = await self.service.cast_ballot(poll_id, body, self.voter_token, key,
                                                   self.read_pos,
                                                   admit=lambda: self.check_rate("ballots"))
        except (ApiError, DomainError) as exc:
            # Rejected, by reason (DESIGN §6).
            self.metrics.child(self.metrics.ballots, exc.code).inc()
            raise
        self.write_reply(reply)


class BallotHandler(ApiHandler):
    route_name = "/api/polls/{id}/ballot"

    async def get(self, poll_id: str) -> None:
        check_poll_id(poll_id)
        code = self.get_query_argument("code", None)
        receipt = self.get_query_argument("receipt", None)
        if code is not None and not 1 <= len(code) <= 64:
            raise ApiError(422, "invalid_query", "code must be 1 to 64 characters.")
        if code is not None:
            # Guessing a code's receipt costs a ballot-sized budget, like guessing codes.
            await self.check_rate("ballots")
        ballot = await self.service.get_ballot(poll_id, self.voter_token, code, receipt,
                                               self.read_pos)
        self.write_json(200, {"ballot": ballot.to_json()})


class CodeHandler(ApiHandler):
    route_name = "/api/polls/{id}/codes/{code}"

    async def get(self, poll_id: str, code: str) -> None:
        check_poll_id(poll_id)
        if not 1 <= len(code) <= 64:
            raise ApiError(403, "invalid_code", "This access code is not valid for this poll.")
        await self.check_rate("ballots")  # one budget with ballots, so codes cannot be guessed
        status = await self.service.code_status(poll_id, code, self.read_pos)
        self.write_json(200, {"status": status})
