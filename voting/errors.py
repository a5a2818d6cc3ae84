"""Errors: ApiError is what a client sees; domain errors are mapped to it in one place."""
from __future__ import annotations


class ApiError(Exception):
    """An error answered as {"error": {"code", "message"}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class DomainError(Exception):
    """Raised by the service and storage layers; carries its own API mapping."""

    status = 400
    code = "bad_request"
    message = "Bad request."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message

    def to_api(self) -> ApiError:
        return ApiError(self.status, self.code, self.message)


class PollNotFound(DomainError):
    status, code, message = 404, "poll_not_found", "No poll with this id."


class PollClosed(DomainError):
    status, code, message = 403, "poll_closed", "This poll is closed and takes no more ballots."


class AlreadyVoted(DomainError):
    status, code, message = 409, "already_voted", "You have already voted in this poll."


class InvalidCode(DomainError):
    status, code, message = 403, "invalid_code", "This access code is not valid for this poll."


class CodeUsed(DomainError):
    status, code, message = 403, "code_used", "This access code has already been used."


class NoBallot(DomainError):
    status, code, message = 404, "no_ballot", "You have not voted in this poll."


class IdempotencyKeyReused(DomainError):
    status, code, message = 422, "idempotency_key_reused", \
        "This Idempotency-Key was already used with a different request body."


class StorageUnavailable(DomainError):
    status, code, message = 503, "storage_unavailable", \
        "The database is unavailable; please retry in a few seconds."
