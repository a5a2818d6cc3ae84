"""The poll service: the rules of the API over storage, publishing events after commit."""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from voting import domain
from voting.definitions import PollDefinitions
from voting.domain import Poll, Tally
from voting.errors import AlreadyVoted, ApiError, CodeUsed, DomainError, IdempotencyKeyReused, \
    InvalidCode, NoBallot, PollClosed, PollNotFound
from voting.metrics import Metrics
from voting.runoff import Rankings
from voting.storage.base import BallotRecord, IdempotencyConflict, IdempotencyRecord, \
    PollSummary, Storage
from voting.tokens import Signer, code_voter_key, hashes_equal, new_poll_id, new_receipt, \
    new_salt, sha256_hex
from voting.ws.broker import Broker

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000


@dataclass
class Reply:
    """What a write answers: status, JSON body and the read position for read-your-writes."""
    status: int
    body: dict[str, Any]  # not sent with a 204
    pos: str | None = None


def request_hash(body: Any) -> str:
    return sha256_hex(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")))


def idempotency_key_hash(path: str, caller: str, key: str) -> str:
    return sha256_hex(f"{path}\n{caller}\n{key}")


def encode_cursor(summary: PollSummary) -> str:
    raw = f"{summary.created_at}:{summary.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        created, _, poll_id = raw.partition(":")
        if not poll_id or len(poll_id) > 16 or not created.isdigit():
            raise ValueError
        if int(created) > domain.LATEST_TIME_MS:  # beyond any stored time, and any SQL integer
            raise ValueError
        return int(created), poll_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(422, "invalid_query", "cursor is not valid; use next_cursor as given.") from None


class PollService:
    def __init__(self, storage: Storage, broker: Broker, signer: Signer, metrics: Metrics,
                 counter_slots: int, definitions: PollDefinitions | None = None) -> None:
        self.storage = storage
        self.broker = broker
        self.signer = signer
        self.metrics = metrics
        self.counter_slots = counter_slots
        self.definitions = definitions if definitions is not None else PollDefinitions()

    # --- polls -----------------------------------------------------------
    async def create_poll(self, body: Any, idem_key: str | None, caller: str) -> Reply:
        now = domain.now_ms()
        idem = None
        if idem_key is not None:
            # Replay first: a retry gets its first answer even once its closes_at has passed.
            idem = IdempotencyRecord(idempotency_key_hash("/api/polls", caller, idem_key),
                                     request_hash(body), 201)
            replay = await self._replay(idem, now)
            if replay is not None:
                return replay
        poll = domain.validate_poll(body, new_poll_id(), now)
        poll.token_salt = new_salt()
        admin_token = self.signer.admin_token(poll.id, poll.token_salt)
        poll.admin_hash = sha256_hex(admin_token)
        # Up to 10,000 codes: two HMACs each, in a thread so the loop keeps serving.
        code_hashes = await asyncio.to_thread(self._code_hashes, poll)
        # The creator holds the admin token, so the (empty) tally is visible to them.
        empty = Tally(poll.id, 0, poll.status, 0, {}, Rankings()).to_json(poll)
        stored = {"poll": poll.to_json(empty)}
        if idem is not None:
            idem.body = json.dumps(stored, ensure_ascii=False)
        for _ in range(3):
            try:
                pos = await self.storage.create_poll(poll, code_hashes, idem)
                break
            except IdempotencyConflict:
                assert idem is not None
                replay = await self._replay(idem, now)
                if replay is not None:
                    return replay
        else:
            raise ApiError(409, "conflict", "Please retry the request.")
        return Reply(201, await self._with_secrets(stored, poll), pos)

    def _code_hashes(self, poll: Poll) -> list[str]:
        codes = self.signer.access_codes(poll.id, poll.token_salt, poll.code_count or 0)
        return [self.signer.code_hash(poll.id, c) for c in codes]

    async def _with_secrets(self, stored: dict[str, Any], poll: Poll) -> dict[str, Any]:
        out = dict(stored)
        out["admin_token"] = self.signer.admin_token(poll.id, poll.token_salt)
        if poll.eligibility == "codes":
            out["codes"] = await asyncio.to_thread(
                self.signer.access_codes, poll.id, poll.token_salt, poll.code_count or 0)
        return out

    async def _replay(self, idem: IdempotencyRecord, now: int) -> Reply | None:
        found = await self.storage.get_idempotency(idem.key_hash, now - IDEMPOTENCY_TTL_MS)
        if found is None:
            return None
        if not hashes_equal(found.request_hash, idem.request_hash):
            raise IdempotencyKeyReused()
        body = json.loads(found.body)
        if "poll" in body and "ballot" not in body:
            poll = await self.storage.get_poll(body["poll"]["id"])
            if poll is None:  # deleted since; the first answer can no longer be given
                raise PollNotFound()
            body = await self._with_secrets(body, poll)
        return Reply(found.status, body, None)

    async def get_poll(self, poll_id: str, pos: str | None) -> Poll:
        poll = await self.storage.get_poll(poll_id, pos)
        if poll is None:
            raise PollNotFound()
        return poll

    def is_admin(self, poll: Poll, admin_token: str | None) -> bool:
        return domain.is_admin(poll, admin_token)

    def require_admin(self, poll: Poll, admin_token: str | None) -> None:
        if not admin_token:
            raise ApiError(401, "admin_required",
                           "This needs the poll's admin token (Authorization: Bearer <token>).")
        if not self.is_admin(poll, admin_token):
            raise ApiError(403, "forbidden", "The admin token is not valid for this poll.")

    async def poll_with_tally(self, poll_id: str, admin_token: str | None,
                              pos: str | None) -> dict[str, Any]:
        poll = await self.get_poll(poll_id, pos)
        tally = await self.storage.get_tally(poll_id, pos)
        if tally is None:
            raise PollNotFound()
        poll.status = tally.status
        visible = domain.results_visible(poll, self.is_admin(poll, admin_token), tally.status)
        return poll.to_json(tally.to_json(poll) if visible else None)

    async def results(self, poll_id: str, admin_token: str | None,
                      pos: str | None) -> tuple[Poll, Tally]:
        poll = await self.get_poll(poll_id, pos)
        tally = await self.storage.get_tally(poll_id, pos)
        if tally is None:
            raise PollNotFound()
        if not domain.results_visible(poll, self.is_admin(poll, admin_token), tally.status):
            raise ApiError(403, "results_hidden",
                           "Results of this poll are shown after it closes.")
        poll.status = tally.status
        return poll, tally

    async def list_polls(self, limit: int, cursor: str | None,
                         pos: str | None) -> dict[str, Any]:
        before = decode_cursor(cursor) if cursor else None
        rows = await self.storage.list_public_polls(limit + 1, before, pos)
        page = rows[:limit]
        return {
            "polls": [{"id": r.id, "title": r.title, "status": r.status,
                       "created_at": domain.ms_to_rfc3339(r.created_at), "total": r.total}
                      for r in page],
            "next_cursor": encode_cursor(page[-1]) if len(rows) > limit else None,
        }

    async def set_status(self, poll_id: str, admin_token: str | None, status: str) -> Reply:
        poll = await self.get_poll(poll_id, None)
        self.require_admin(poll, admin_token)
        self.definitions.forget(poll_id)
        change = await self.storage.set_status(poll_id, status, domain.now_ms())
        if change is None:
            raise PollNotFound()
        if change.changed:
            await self.broker.publish(poll_id, {"type": "status", "status": status,
                                                "seq": change.seq})
        body = await self.poll_with_tally(poll_id, admin_token, change.pos)
        return Reply(200, {"poll": body}, change.pos)

    async def delete_poll(self, poll_id: str, admin_token: str | None) -> Reply:
        poll = await self.get_poll(poll_id, None)
        self.require_admin(poll, admin_token)
        self.definitions.forget(poll_id)
        deleted, pos = await self.storage.delete_poll(poll_id)
        if deleted:
            await self.broker.publish(poll_id, {"type": "deleted"})
        return Reply(204, {}, pos)

    async def close_due_polls(self) -> list[str]:
        now = domain.now_ms()
        closed = []
        for poll_id in await self.storage.due_polls(now):
            change = await self.storage.set_status(poll_id, "closed", now, if_due=True)
            if change is not None and change.changed:  # another backend may have been first
                closed.append(poll_id)
                await self.broker.publish(poll_id, {"type": "status", "status": "closed",
                                                    "seq": change.seq})
        return closed

    # --- ballots ---------------------------------------------------------
    async def _poll_for_ballot(self, poll_id: str, pos: str | None, now: int) -> Poll:
        """The poll a ballot is checked against, from the process's definitions cache."""
        cached = self.definitions.open_poll(poll_id, now)
        if cached is not None:
            return cached
        poll = await self.get_poll(poll_id, pos)
        self.definitions.remember(poll)
        return poll

    async def _voter(self, poll: Poll, voter_token: str | None,
                     code: str | None) -> tuple[str, str | None]:
        """The stored voter key and, for codes polls, the code's hash."""
        if poll.eligibility == "codes":
            if not code:
                raise ApiError(401, "voter_required", "This poll needs an access code.")
            h = self.signer.code_hash(poll.id, code)
            return code_voter_key(h), h
        key = self.signer.voter_key(voter_token)
        if key is None:
            raise ApiError(401, "voter_required",
                           "A voter token is needed: POST /api/voters first "
                           "(cookie 'voter' or header X-Voter-Token).")
        return key, None

    async def cast_ballot(self, poll_id: str, body: Any, voter_token: str | None,
                          idem_key: str | None, pos: str | None,
                          admit: Callable[[], Awaitable[None]] | None = None) -> Reply:
        """`admit` raises when the caller is over its rate limit (ApiError 429)."""
        ballot = domain.parse_ballot(body)
        now = domain.now_ms()
        poll = await self._poll_for_ballot(poll_id, pos, now)
        voter_key, c_hash = await self._voter(poll, voter_token, ballot.code)
        choices = domain.validate_choices(poll, ballot.choices)
        idem = None
        if idem_key is not None:
            # Replay before the closed check: a retry gets its first answer after the close too.
            idem = IdempotencyRecord(
                idempotency_key_hash(f"/api/polls/{poll_id}/ballots", voter_key, idem_key),
                request_hash(body))
            replay = await self._replay(idem, now)
            if replay is not None:
                return replay
        if poll.is_closed(now):
            raise PollClosed()
        if admit is not None:
            try:
                await admit()
            except ApiError:
                if not poll.allow_revote and \
                        await self.storage.get_ballot(poll_id, voter_key, pos) is not None:
                    raise (CodeUsed() if c_hash is not None else AlreadyVoted()) from None
                raise
        receipt = new_receipt()
        if idem is not None:
            idem.body = json.dumps({"ballot": {"poll_id": poll_id, "choices": choices,
                                               "receipt": receipt}}, ensure_ascii=False)
        try:
            result = await self.storage.cast_ballot(
                poll, voter_key, choices, receipt, random.randrange(self.counter_slots),
                c_hash, idem, now)
        except (IdempotencyConflict, AlreadyVoted, CodeUsed) as exc:
            if idem is not None:
                replay = await self._replay(idem, now)
                if replay is not None:
                    return replay
            if isinstance(exc, IdempotencyConflict):
                raise ApiError(409, "conflict", "A request with this key is in progress.") from None
            raise
        except (PollClosed, InvalidCode, PollNotFound) as exc:
            if not isinstance(exc, InvalidCode):
                self.definitions.forget(poll_id)
            raise
        self.metrics.child(self.metrics.ballots,
                           "replaced" if result.replaced else "accepted").inc()
        await self.broker.publish(poll_id, {"type": "changed"})
        return Reply(200 if result.replaced else 201, {"ballot": result.ballot.to_json()},
                     result.pos)

    async def get_ballot(self, poll_id: str, voter_token: str | None, code: str | None,
                         receipt: str | None, pos: str | None) -> BallotRecord:
        """The caller's ballot: by voter token, or by code with that ballot's receipt (the
        organizer holds every code, so a code alone must not reveal a ballot)."""
        poll = await self.get_poll(poll_id, pos)
        voter_key, c_hash = await self._voter(poll, voter_token, code)
        ballot = await self.storage.get_ballot(poll_id, voter_key, pos)
        if ballot is None:
            raise NoBallot()  # also for a code that does not exist (DESIGN §4: 404 no_ballot)
        if c_hash is not None and not (receipt and hashes_equal(receipt, ballot.receipt)):
            raise NoBallot()
        return ballot

    async def code_status(self, poll_id: str, code: str, pos: str | None) -> str:
        """"unused" or "used"; InvalidCode for a code this poll never issued."""
        poll = await self.get_poll(poll_id, pos)
        if poll.eligibility != "codes":
            raise InvalidCode()
        h = self.signer.code_hash(poll.id, code)
        if not await self.storage.code_exists(poll_id, h, pos):
            raise InvalidCode()
        used = await self.storage.get_ballot(poll_id, code_voter_key(h), pos)
        return "used" if used is not None else "unused"


def domain_error_to_api(exc: DomainError) -> ApiError:
    return exc.to_api()
