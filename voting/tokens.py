"""Ids, voter tokens, admin tokens and access codes.

Admin tokens and access codes are derived with HMAC from the server secret and a
random per-poll salt, so only their hashes are stored and an idempotent replay of a
poll creation can give the same secrets back without keeping them. Codes are short
enough to guess offline from a plain hash, so theirs is an HMAC with the server secret:
a copy of the database alone does not reveal them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# No 0/o/1/l/i: join codes are read off a projector and access codes off paper.
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
ID_ALPHABET = CODE_ALPHABET
CODE_LENGTH = 10


def new_poll_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(8))


def normalize_code(code: str) -> str:
    """Codes are accepted in any case and with the spaces or dashes they are printed with."""
    return "".join(ch for ch in code.lower() if ch not in " -\t\n")


def new_salt() -> str:
    return secrets.token_hex(16)


def new_receipt() -> str:
    return secrets.token_hex(8)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))


class Signer:
    """Everything derived from the server secret."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def _mac(self, message: str) -> bytes:
        # The one-shot form: no HMAC object per call (every ballot checks its voter token).
        return hmac.digest(self._key, message.encode("utf-8"), "sha256")

    # Voter tokens: "v1.<voter id>.<mac>"; the voter id is random, the mac proves we issued it.
    def new_voter_token(self) -> str:
        voter_id = secrets.token_urlsafe(16)
        return f"v1.{voter_id}.{self._b64(self._mac('voter:' + voter_id))[:32]}"

    def voter_key(self, token: str | None) -> str | None:
        """The stored identity of a valid voter token (a hash, never the token), else None."""
        if not token or len(token) > 200:
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "v1":
            return None
        expected = self._b64(self._mac("voter:" + parts[1]))[:32]
        if not hmac.compare_digest(expected.encode(), parts[2].encode("utf-8", "replace")):
            return None
        return "v:" + sha256_hex(parts[1])[:40]

    def admin_token(self, poll_id: str, salt: str) -> str:
        return self._b64(self._mac(f"admin:{poll_id}:{salt}"))[:32]

    def access_codes(self, poll_id: str, salt: str, count: int) -> list[str]:
        codes = []
        for i in range(count):
            digest = self._mac(f"code:{poll_id}:{salt}:{i}")
            n = int.from_bytes(digest[:10], "big")
            chars = []
            for _ in range(CODE_LENGTH):
                n, r = divmod(n, len(CODE_ALPHABET))
                chars.append(CODE_ALPHABET[r])
            codes.append("".join(chars))
        return codes

    def code_hash(self, poll_id: str, code: str) -> str:
        """What is stored of an access code (an HMAC, see the module's docstring)."""
        return self._mac(f"code-hash:{poll_id}:{normalize_code(code)}").hex()

    @staticmethod
    def _b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def code_voter_key(code_hash_value: str) -> str:
    return "c:" + code_hash_value[:40]
