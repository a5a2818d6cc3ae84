"""JSON from clients: UTF-8 text, no NaN/Infinity, no lone surrogates.

A lone surrogate ("\\ud800") decodes to a Python str that cannot be encoded as UTF-8 again,
so it would fail later (in SQL, in a response) as a 500; it is refused here instead.
"""
from __future__ import annotations

import json
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder: json.loads with an argument builds a new one per call (7 % of a busy backend).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def loads(raw: bytes | str) -> Any:
    """The parsed value; ValueError (UnicodeDecodeError included) for anything not clean JSON."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        value = _DECODER.decode(text)
        # UTF-8 text holds no surrogates: only a \uD800-\uDFFF escape can make one. Encoding
        # again is the complete check (keys included), needed only when such an escape occurs.
        if "\\ud" in text or "\\uD" in text:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (RecursionError, UnicodeEncodeError) as exc:
        raise ValueError(str(exc)) from None
    return value
