"""Poll and ballot rules: validating client input and shaping what the API returns.

Pure functions over plain data; no I/O. Limits are those of DESIGN.md §3.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from voting.errors import ApiError
from voting.runoff import Rankings, ranking_key
from voting.tokens import hashes_equal, sha256_hex

TITLE_MAX = 200
DESCRIPTION_MAX = 2000
QUESTIONS_MAX = 20
QUESTION_TEXT_MAX = 500
OPTIONS_MIN, OPTIONS_MAX = 2, 50
LABEL_MAX = 200
CODE_COUNT_MAX = 10000

POLL_FIELDS = {"title", "description", "results", "show_results", "allow_revote", "eligibility",
               "code_count", "visibility", "closes_at", "questions"}
QUESTION_FIELDS = {"text", "kind", "min_choices", "max_choices", "options", "scale_min", "scale_max",
                   "min_label", "max_label"}
KINDS = ("single", "multiple", "ranked", "scale")
SCALE_LOWEST, SCALE_HIGHEST = 0, 10
OPTION_FIELDS = {"label"}
BALLOT_FIELDS = {"choices", "code"}


@dataclass
class Question:
    id: str
    text: str
    kind: str  # single | multiple | ranked | scale
    min_choices: int
    max_choices: int
    options: list[dict[str, str]]  # [{"id", "label"}]; for scale one per point, label = the number
    scale_min: int | None = None  # scale only
    scale_max: int | None = None
    min_label: str | None = None
    max_label: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text, "kind": self.kind,
                               "min_choices": self.min_choices, "max_choices": self.max_choices,
                               "options": [dict(o) for o in self.options]}
        if self.kind == "scale":
            out.update(scale_min=self.scale_min, scale_max=self.scale_max,
                       min_label=self.min_label, max_label=self.max_label)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Question":
        return cls(d["id"], d["text"], d["kind"], d["min_choices"], d["max_choices"],
                   [dict(o) for o in d["options"]], d.get("scale_min"), d.get("scale_max"),
                   d.get("min_label"), d.get("max_label"))

    def option_ids(self) -> list[str]:
        return [o["id"] for o in self.options]

    def point_values(self) -> dict[str, int]:
        """Scale: option id -> the point it stands for."""
        lo = self.scale_min or 0
        return {o["id"]: lo + i for i, o in enumerate(self.options)}


def scale_stats(q: Question, counts: dict[str, int]) -> tuple[float | None, float | None]:
    """Mean and median of a scale question's points (None with no votes)."""
    points = sorted((v, int(counts.get(o, 0))) for o, v in q.point_values().items())
    n = sum(c for _, c in points)
    if n <= 0:
        return None, None
    mean = sum(v * c for v, c in points) / n

    def nth(k: int) -> int:  # the k-th smallest point (0-based)
        seen = 0
        for v, c in points:
            seen += c
            if k < seen:
                return v
        return points[-1][0]
    median = (nth((n - 1) // 2) + nth(n // 2)) / 2
    return mean, median


@dataclass
class Poll:
    id: str
    title: str
    description: str
    results: str
    allow_revote: bool
    eligibility: str
    visibility: str
    questions: list[Question]
    status: str = "open"
    closes_at: int | None = None  # epoch milliseconds
    created_at: int = 0
    closed_at: int | None = None
    code_count: int | None = None
    token_salt: str = ""
    admin_hash: str = ""
    show_results: str = "always"  # a display rule of the client (DESIGN §3)

    def option_ids(self) -> list[str]:
        return [o["id"] for q in self.questions for o in q.options]

    def definition_json(self) -> dict[str, Any]:
        """What never changes after creation, stored as one JSON column."""
        return {"questions": [q.to_json() for q in self.questions],
                "show_results": self.show_results}

    def to_json(self, tally: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "title": self.title, "description": self.description,
            "results": self.results, "show_results": self.show_results,
            "allow_revote": self.allow_revote,
            "eligibility": self.eligibility, "code_count": self.code_count,
            "visibility": self.visibility, "closes_at": ms_to_rfc3339(self.closes_at),
            "status": self.status, "created_at": ms_to_rfc3339(self.created_at),
            "closed_at": ms_to_rfc3339(self.closed_at),
            "questions": [q.to_json() for q in self.questions],
        }
        if tally is not None:
            out["tally"] = tally
        return out

    def is_closed(self, now_ms: int) -> bool:
        return status_at(self.status, self.closes_at, now_ms) == "closed"


@dataclass
class Tally:
    """A consistent reading of one poll's counters (for ranked questions the counts are
    first preferences, and `rankings` holds what the runoff needs)."""
    poll_id: str
    seq: int
    status: str
    total: int
    counts: dict[str, int] = field(default_factory=dict)  # option_id -> n
    rankings: Rankings | None = None  # None: not read (a ranked question then has no rounds)

    def question_json(self, q: Question) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": q.id, "counts": {o["id"]: int(self.counts.get(o["id"], 0)) for o in q.options}}
        if q.kind == "ranked" and self.rankings is not None:
            runoff = self.rankings.runoff(q, self.total)
            out["rounds"] = [r.to_json() for r in runoff.rounds]
            out["winner"] = runoff.winner
        elif q.kind == "scale":
            out["mean"], out["median"] = scale_stats(q, self.counts)
        return out

    def to_json(self, poll: Poll, with_counts: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seq, "total": self.total}
        if with_counts:
            out["questions"] = [self.question_json(q) for q in poll.questions]
        return out

    def relay_json(self) -> dict[str, Any]:
        """Everything a tally frame is built from, for another process (see from_relay)."""
        out: dict[str, Any] = {"seq": self.seq, "status": self.status, "total": self.total,
                               "counts": dict(self.counts)}
        if self.rankings is not None:
            out["rankings"] = self.rankings.to_json()
        return out

    @classmethod
    def from_relay(cls, poll_id: str, d: dict[str, Any]) -> "Tally":
        """The inverse of relay_json; KeyError, TypeError or ValueError when malformed."""
        rankings = None
        if d.get("rankings") is not None:
            rankings = Rankings.from_rows(
                (str(qid), str(key), int(n)) for qid, rows in dict(d["rankings"]).items()
                for key, n in rows)
        return cls(poll_id, int(d["seq"]), str(d["status"]), int(d["total"]),
                   {str(k): int(v) for k, v in dict(d["counts"]).items()}, rankings)


def status_at(stored: str, closes_at: int | None, now: int) -> str:
    """The one rule of "is this poll closed": closed, or its closes_at has passed. Read at
    every read, so a poll reads as closed at once, before the sweep writes it down."""
    if stored == "open" and closes_at is not None and closes_at <= now:
        return "closed"
    return stored


def now_ms() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1000)


def ms_to_rfc3339(ms: int | None) -> str | None:
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_poll", message)


def _check_unknown(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise ApiError(422, "unknown_field", f"Unknown field {extra[0]!r} in {where}.")


# Unicode's Default_Ignorable_Code_Point: invisible characters (zero-width space and
# joiners, soft hyphen, BOM, variation selectors, ...). Two labels that differ only by them
# look identical, and a text made only of them looks empty.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))
# Bidi embeddings, overrides and isolates reorder the text around them ("Trojan Source").
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_default_ignorable(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _DEFAULT_IGNORABLE)


def visible_key(text: str) -> str:
    """What a reader sees of a text: the text without its invisible characters."""
    return "".join(ch for ch in text if not is_default_ignorable(ch))


def clean_text(value: str, multiline: bool = False) -> str:
    """DESIGN §4's text rules: NFC and trimmed; ValueError naming what is refused."""
    if multiline:
        value = value.replace("\r\n", "\n")
    for ch in value:
        if ch in _BIDI_CONTROLS:
            raise ValueError("must not contain bidirectional override or isolate characters")
        if multiline and ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029":
            raise ValueError("must not contain control characters")
    return unicodedata.normalize("NFC", value).strip()


def _text(obj: dict[str, Any], key: str, where: str, lo: int, hi: int, default: str | None = None,
          multiline: bool = False) -> str:
    value = obj.get(key)
    if value is None:  # absent or null: the default, if the field has one
        value = default
    if value is None:
        raise _invalid(f"{where}{key} is required.")
    if not isinstance(value, str):
        raise _invalid(f"{where}{key} must be a string.")
    if len(value) > 4 * hi:  # before the work below; the real limit is checked after it
        raise _invalid(f"{where}{key} must be at most {hi} characters.")
    try:
        value = clean_text(value, multiline)
    except ValueError as exc:
        raise _invalid(f"{where}{key} {exc}.") from None
    if len(value) > hi:
        raise _invalid(f"{where}{key} must be at most {hi} characters.")
    if not visible_key(value).strip():
        if lo:
            raise _invalid(f"{where}{key} must not be empty.")
        value = ""
    return value


def _choice(obj: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = obj.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, str) or value not in allowed:
        raise _invalid(f"{key} must be one of {', '.join(allowed)}.")
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{name} must be an integer.")
    return value


LATEST_TIME_MS = 253402300799999  # 9999-12-31T23:59:59.999Z, the last time datetime can write


def parse_rfc3339(value: Any, name: str) -> int:
    if not isinstance(value, str) or len(value) > 40:
        raise _invalid(f"{name} must be an RFC 3339 time, such as 2030-01-01T12:00:00Z.")
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise _invalid(f"{name} must be an RFC 3339 time, such as 2030-01-01T12:00:00Z.") from None
    if dt.tzinfo is None or "T" not in value.upper():
        raise _invalid(f"{name} must be an RFC 3339 time with a time zone, such as 2030-01-01T12:00:00Z.")
    ms = int(dt.timestamp() * 1000)
    if ms > LATEST_TIME_MS:  # 9999-12-31T23:59:59-12:00 is in the year 10000 in UTC
        raise _invalid(f"{name} must be before the year 10000 (UTC).")
    return ms


def validate_poll(body: Any, poll_id: str, now: int) -> Poll:
    """Validate a create-poll body; returns a Poll without id-derived secrets."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    _check_unknown(body, POLL_FIELDS, "the poll")
    title = _text(body, "title", "", 1, TITLE_MAX)
    description = _text(body, "description", "", 0, DESCRIPTION_MAX, default="", multiline=True)
    results = _choice(body, "results", ("live", "after_close"), "live")
    show_results = _choice(body, "show_results", ("always", "after_vote"), "always")
    eligibility = _choice(body, "eligibility", ("open", "codes"), "open")
    visibility = _choice(body, "visibility", ("unlisted", "public"), "unlisted")
    allow_revote = body.get("allow_revote", False)
    if allow_revote is None:
        allow_revote = False
    if not isinstance(allow_revote, bool):
        raise _invalid("allow_revote must be true or false.")
    code_count = body.get("code_count")
    if eligibility == "codes":
        if code_count is None:
            raise _invalid("code_count is required when eligibility is codes.")
        code_count = _int(code_count, "code_count")
        if not 1 <= code_count <= CODE_COUNT_MAX:
            raise _invalid(f"code_count must be between 1 and {CODE_COUNT_MAX}.")
    elif code_count is not None:
        raise _invalid("code_count is only allowed when eligibility is codes.")
    closes_at = body.get("closes_at")
    closes_ms: int | None = None
    if closes_at is not None:
        closes_ms = parse_rfc3339(closes_at, "closes_at")
        if closes_ms <= now:
            raise _invalid("closes_at must lie in the future.")
    questions_in = body.get("questions")
    if questions_in is None:
        raise _invalid("questions is required.")
    if not isinstance(questions_in, list):
        raise _invalid("questions must be an array.")
    if not 1 <= len(questions_in) <= QUESTIONS_MAX:
        raise _invalid(f"A poll has 1 to {QUESTIONS_MAX} questions.")
    questions: list[Question] = []
    next_option = 1
    for qi, q in enumerate(questions_in, start=1):
        where = f"questions[{qi - 1}]."
        if not isinstance(q, dict):
            raise _invalid(f"questions[{qi - 1}] must be an object.")
        _check_unknown(q, QUESTION_FIELDS, f"questions[{qi - 1}]")
        text = _text(q, "text", where, 1, QUESTION_TEXT_MAX)
        kind = q.get("kind")
        if kind is None:
            kind = "single"
        if kind not in KINDS:
            raise _invalid(f"{where}kind must be one of {', '.join(KINDS)}.")
        question, next_option = _question(q, f"q{qi}", text, kind, where, next_option)
        questions.append(question)
    return Poll(id=poll_id, title=title, description=description, results=results,
                show_results=show_results,
                allow_revote=allow_revote, eligibility=eligibility, visibility=visibility,
                questions=questions, closes_at=closes_ms, created_at=now,
                code_count=code_count if eligibility == "codes" else None)


def _labels(q: dict[str, Any], where: str, next_option: int) -> tuple[list[dict[str, str]], int]:
    """The options of a question as given: labels checked, ids numbered across the poll."""
    options_in = q.get("options")
    if not isinstance(options_in, list):
        raise _invalid(f"{where}options must be an array.")
    if not OPTIONS_MIN <= len(options_in) <= OPTIONS_MAX:
        raise _invalid(f"{where}options must have {OPTIONS_MIN} to {OPTIONS_MAX} entries.")
    options: list[dict[str, str]] = []
    seen: set[str] = set()
    for oi, o in enumerate(options_in):
        owhere = f"{where}options[{oi}]."
        if not isinstance(o, dict):
            raise _invalid(f"{where}options[{oi}] must be an object.")
        _check_unknown(o, OPTION_FIELDS, f"{where}options[{oi}]")
        label = _text(o, "label", owhere, 1, LABEL_MAX)
        # Labels that look the same are the same; "Yes" and "yes" are two labels.
        norm = visible_key(label)
        if norm in seen:
            raise _invalid(f"{where}options: the label {label!r} appears twice.")
        seen.add(norm)
        options.append({"id": f"o{next_option}", "label": label})
        next_option += 1
    return options, next_option


def _question(q: dict[str, Any], qid: str, text: str, kind: str, where: str,
              next_option: int) -> tuple[Question, int]:
    """The kind-specific part of a question (DESIGN §3); returns it and the next option number."""
    if kind != "scale":
        for key in ("scale_min", "scale_max", "min_label", "max_label"):
            if q.get(key) is not None:
                raise _invalid(f"{where}{key} is only allowed in a scale question.")
    if kind == "scale":
        if q.get("options") is not None:
            raise _invalid(f"{where}options are made by the server for a scale question "
                           "(one per point); send scale_min and scale_max instead.")
        for key in ("min_choices", "max_choices"):
            if q.get(key) is not None and _int(q[key], where + key) != 1:
                raise _invalid(f"{where}{key} must be 1 for a scale question.")
        if q.get("scale_min") is None or q.get("scale_max") is None:
            raise _invalid(f"{where}scale_min and scale_max are required in a scale question.")
        lo_point = _int(q["scale_min"], where + "scale_min")
        hi_point = _int(q["scale_max"], where + "scale_max")
        if not SCALE_LOWEST <= lo_point < hi_point <= SCALE_HIGHEST:
            raise _invalid(f"{where}scale must satisfy {SCALE_LOWEST} <= scale_min < scale_max "
                           f"<= {SCALE_HIGHEST}.")
        end_labels = [_text(q, key, where, 0, LABEL_MAX, default="") or None
                      for key in ("min_label", "max_label")]
        options = [{"id": f"o{next_option + i}", "label": str(point)}
                   for i, point in enumerate(range(lo_point, hi_point + 1))]
        return Question(qid, text, kind, 1, 1, options, lo_point, hi_point, *end_labels), \
            next_option + len(options)
    options, next_option = _labels(q, where, next_option)
    n = len(options)
    if kind == "single":
        for key in ("min_choices", "max_choices"):
            if q.get(key) is not None and _int(q[key], where + key) != 1:
                raise _invalid(f"{where}{key} must be 1 for a single-choice question.")
        return Question(qid, text, kind, 1, 1, options), next_option
    lo = _int(q["min_choices"], where + "min_choices") if q.get("min_choices") is not None else 1
    hi = _int(q["max_choices"], where + "max_choices") if q.get("max_choices") is not None else n
    if kind == "ranked":
        if not 0 <= lo <= hi <= n or hi < 1:
            raise _invalid(f"{where}ranks must satisfy 0 <= min_choices <= max_choices <= "
                           f"number of options ({n}), and max_choices >= 1.")
    elif not 0 <= lo <= hi <= n:
        raise _invalid(f"{where}choices must satisfy 0 <= min_choices <= max_choices <= "
                       f"number of options ({n}).")
    return Question(qid, text, kind, lo, hi, options), next_option


def _bad_ballot(message: str) -> ApiError:
    return ApiError(422, "invalid_ballot", message)


@dataclass
class BallotInput:
    choices: dict[str, list[str]]
    code: str | None


def parse_ballot(body: Any) -> BallotInput:
    """Shape checks that need no poll."""
    if not isinstance(body, dict):
        raise _bad_ballot("The request body must be a JSON object.")
    _check_unknown(body, BALLOT_FIELDS, "the ballot")
    choices = body.get("choices")
    if not isinstance(choices, dict):
        raise _bad_ballot("choices must be an object mapping question ids to arrays of option ids.")
    out: dict[str, list[str]] = {}
    for qid, picked in choices.items():
        if not isinstance(picked, list) or not all(isinstance(p, str) for p in picked):
            raise _bad_ballot(f"choices[{qid!r}] must be an array of option ids (strings).")
        out[qid] = list(picked)
    code = body.get("code")
    if code is not None and (not isinstance(code, str) or not 1 <= len(code) <= 64):
        raise _bad_ballot("code must be a string of 1 to 64 characters.")
    return BallotInput(out, code)


def validate_choices(poll: Poll, choices: dict[str, list[str]]) -> dict[str, list[str]]:
    """Check a ballot against the poll; returns choices for every question, in poll order."""
    by_id = {q.id: q for q in poll.questions}
    for qid in choices:
        if qid not in by_id:
            raise _bad_ballot(f"Question {qid!r} is not part of this poll.")
    out: dict[str, list[str]] = {}
    for q in poll.questions:
        picked = choices.get(q.id, [])
        valid = {o["id"] for o in q.options}
        if len(set(picked)) != len(picked):
            raise _bad_ballot(f"Question {q.id!r}: an option is chosen twice."
                              if q.kind != "ranked" else f"Question {q.id!r}: an option is ranked twice.")
        for p in picked:
            if p not in valid:
                raise _bad_ballot(f"Question {q.id!r}: {p!r} is not one of its options.")
        if not q.min_choices <= len(picked) <= q.max_choices:
            if q.min_choices == q.max_choices:
                need = f"exactly {q.min_choices}"
            else:
                need = f"{q.min_choices} to {q.max_choices}"
            what = "rank(s)" if q.kind == "ranked" else "choice(s)"
            raise _bad_ballot(f"Question {q.id!r} needs {need} {what}, got {len(picked)}.")
        if q.kind == "ranked":
            out[q.id] = list(picked)  # the voter's order is the ballot
        else:
            order = [o["id"] for o in q.options]
            out[q.id] = sorted(picked, key=order.index)
    return out


def ballot_counts(poll: Poll, choices: dict[str, list[str]]) -> dict[str, int]:
    """The counters a ballot adds to: each chosen option (for ranked: only the first)."""
    out: dict[str, int] = {}
    for q in poll.questions:
        picks = choices.get(q.id, [])
        for o in picks[:1] if q.kind == "ranked" else picks:
            out[o] = out.get(o, 0) + 1
    return out


def ballot_rankings(poll: Poll, choices: dict[str, list[str]]) -> dict[tuple[str, str], int]:
    """The aggregated rankings a ballot adds to: (question id, ranking key) -> 1."""
    return {(q.id, ranking_key(choices[q.id])): 1 for q in poll.questions
            if q.kind == "ranked" and choices.get(q.id)}


def delta(new: dict[Any, int], old: dict[Any, int] | None) -> dict[Any, int]:
    """The change of counters when `old` is replaced by `new` (zeros dropped)."""
    out = dict(new)
    for k, n in (old or {}).items():
        out[k] = out.get(k, 0) - n
    return {k: n for k, n in out.items() if n}


def is_admin(poll: Poll, admin_token: str | None) -> bool:
    """Whether the token is this poll's admin token (compared as hashes, in constant time)."""
    return admin_token is not None and hashes_equal(sha256_hex(admin_token), poll.admin_hash)


def results_visible(poll: Poll, is_admin: bool, status: str | None = None) -> bool:
    return poll.results == "live" or (status or poll.status) == "closed" or is_admin
