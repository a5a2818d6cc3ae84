"""Automated accessibility audit (axe-core, WCAG 2.0/2.1 A and AA) of every page of the web client.

Each page a user meets is loaded in chromium at a phone (360x740) and a projector (1920x1080)
viewport, axe-core from client/node_modules is injected, and the test fails with the rule id,
impact and failing elements of every violation.  Polls come from the HTTP API; the pages that
only exist after an action (the share page after creating, "your vote counted", a live update)
are reached through the UI.
"""
from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.client import call

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000  # every wait has a deadline; nothing sleeps blindly
expect.set_options(timeout=TIMEOUT_MS)

AXE_JS = Path(__file__).resolve().parents[2] / "client" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORTS: dict[str, ViewportSize] = {
    "360x740": {"width": 360, "height": 740},
    "1920x1080": {"width": 1920, "height": 1080},
}

LIVE_TITLE = "Accessibility: team offsite"
CODES_TITLE = "Accessibility: board election"
CLOSED_TITLE = "Accessibility: closed survey"


# --- polls through the HTTP API ----------------------------------------------------------------


@dataclass
class ApiPoll:
    id: str
    token: str
    questions: list[dict[str, Any]]
    codes: list[str] = field(default_factory=list)

    def option(self, q: int, o: int) -> tuple[str, str]:
        question = self.questions[q]
        return str(question["id"]), str(question["options"][o]["id"])


def create_poll(base: str, body: dict[str, Any]) -> ApiPoll:
    res = call(base, "POST", "/api/polls", body)
    poll = res["poll"]
    return ApiPoll(str(poll["id"]), str(res["admin_token"]), list(poll["questions"]),
                   list(res.get("codes") or []))


def cast_ballot(base: str, poll: ApiPoll, choices: dict[str, list[str]]) -> None:
    """One ballot from a new voter (the API path the client uses)."""
    voter = call(base, "POST", "/api/voters", {})["voter_token"]
    call(base, "POST", f"/api/polls/{poll.id}/ballots", {"choices": choices},
         {"X-Voter-Token": str(voter)})


@dataclass
class Polls:
    base: str
    live: ApiPoll     # public, live results, two questions (one and several choices), revotes
    codes: ApiPoll    # one-time access codes, results after close
    closed: ApiPoll   # public, closed, with ballots
    _next_code: Iterator[str] = field(init=False)

    def __post_init__(self) -> None:
        self._next_code = iter(self.codes.codes)

    def code(self) -> str:
        """An access code no other test has used."""
        return next(self._next_code)


@pytest.fixture
def polls(embedded_server: Any) -> Polls:
    """Fresh polls for every case (a few API calls): no case sees another's ballots or codes."""
    base = str(embedded_server.url).rstrip("/")
    live = create_poll(base, {
        "title": LIVE_TITLE,
        "description": "Where and when do we meet?\nPick what works for you.",
        "results": "live", "eligibility": "open", "visibility": "public", "allow_revote": True,
        "closes_at": (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "questions": [
            {"text": "Where?", "options": [{"label": "Lakeside"}, {"label": "Mountains"},
                                           {"label": "City"}]},
            {"text": "Which days?", "kind": "multiple", "min_choices": 1, "max_choices": 2,
             "options": [{"label": "Monday"}, {"label": "Tuesday"}, {"label": "Friday"}]},
        ]})
    for where, days in ((0, (0, 1)), (1, (2,)), (0, (1,))):
        q0, o0 = live.option(0, where)
        q1 = live.option(1, 0)[0]
        cast_ballot(base, live, {q0: [o0], q1: [live.option(1, d)[1] for d in days]})
    codes = create_poll(base, {
        "title": CODES_TITLE, "results": "after_close", "eligibility": "codes", "code_count": 12,
        "questions": [{"text": "Who chairs the board?",
                       "options": [{"label": "Ada"}, {"label": "Grace"}]}]})
    closed = create_poll(base, {
        "title": CLOSED_TITLE, "results": "live", "eligibility": "open", "visibility": "public",
        "questions": [{"text": "Was it useful?", "options": [{"label": "Yes"}, {"label": "No"}]}]})
    for o in (0, 0, 1):
        q, opt = closed.option(0, o)
        cast_ballot(base, closed, {q: [opt]})
    call(base, "POST", f"/api/polls/{closed.id}/close", {},
         {"Authorization": f"Bearer {closed.token}"})
    return Polls(base, live, codes, closed)


# --- the audit ---------------------------------------------------------------------------------

AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary})),
  }));
}"""


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"]:
            summary = " ".join(str(node.get("summary") or "").split())
            lines.append(f"    {json.dumps(node['target'])}: {summary[:300]}")
    return "\n".join(lines)


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE_JS))
    violations: list[dict[str, Any]] = await page.evaluate(AXE_RUN, WCAG_TAGS)
    return violations


async def live_connection(page: Page) -> None:
    """Every connection indicator of the page says "live" (the tally is up to date)."""
    await expect(page.get_by_test_id("connection").first).to_be_visible()
    for conn in await page.get_by_test_id("connection").all():
        await expect(conn).to_have_attribute("data-state", "live")


async def qr_drawn(page: Page) -> None:
    await expect(page.get_by_test_id("qr").first.locator("svg")).to_be_visible()


# --- the pages ---------------------------------------------------------------------------------

async def home(page: Page, polls: Polls) -> None:
    """Join by code, the (empty) create form and the public list."""
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Join a poll")).to_be_visible()
    public = page.get_by_role("region", name="Public polls")
    # Every case makes its own polls, so the titles repeat: this case's polls by their links.
    for poll, title in ((polls.live, LIVE_TITLE), (polls.closed, CLOSED_TITLE)):
        link = public.locator(f'a[href="/p/{poll.id}"]')
        await expect(link).to_be_visible()
        await expect(link).to_contain_text(title)


async def join_error(page: Page, polls: Polls) -> None:
    """Join by code with a malformed code: the inline error."""
    await page.goto("/")
    await page.get_by_label("Join code").fill("nope")
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(page.locator("#join-code-err")).to_be_visible()


async def create_form(page: Page, polls: Polls) -> None:
    """The create form opened up: several choices, access codes, closing time, and the
    validation errors of an empty submit."""
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Create a poll")).to_be_visible()
    await page.get_by_label("Several choices").check()
    await page.get_by_label("Only with a one-time access code").check()
    closes = page.get_by_label("Close automatically at (optional, your local time)")
    await closes.fill(f"{datetime.now().year + 1}-01-01T12:00")
    await expect(page.get_by_role("button", name="Clear")).to_be_visible()
    await page.get_by_role("button", name="+ Add question").click()
    await expect(page.get_by_test_id("question-editor")).to_have_count(2)
    await page.get_by_test_id("create-submit").click()
    await expect(page.get_by_test_id("form-errors")).to_be_visible()
    await expect(page.get_by_text("Give the poll a title.")).to_be_visible()


async def fill_and_create(page: Page) -> None:
    await page.goto("/")
    await page.get_by_label("Title").fill("Accessibility: created in the browser")
    await page.get_by_label("Question 1 text").fill("Tea or coffee?")
    await page.get_by_label("Option 1 of question 1", exact=True).fill("Tea")
    await page.get_by_label("Option 2 of question 1", exact=True).fill("Coffee")
    await page.get_by_label("Only with a one-time access code").check()
    await page.get_by_label("Number of access codes").fill("6")
    await page.get_by_test_id("create-submit").click()
    await expect(page.get_by_role("heading", name="Your poll is ready")).to_be_visible()


async def share(page: Page, polls: Polls) -> None:
    """The share page right after creating (link, join code, QR, organizer link, codes)."""
    await fill_and_create(page)
    await expect(page.get_by_test_id("codes").locator("li")).to_have_count(6)
    await qr_drawn(page)


async def share_copied(page: Page, polls: Polls) -> None:
    """The share page after "Copy": the button says it copied."""
    await fill_and_create(page)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=polls.base)
    copy = page.get_by_role("button", name=re.compile("share link"))
    await copy.click()
    await expect(copy).to_contain_text("Copied")
    await qr_drawn(page)


async def admin_after_create(page: Page, polls: Polls) -> None:
    """Organizer controls opened from the share page (the access codes are in this browser)."""
    await fill_and_create(page)
    await page.get_by_test_id("open-admin").click()
    await expect(page.get_by_test_id("poll-title")).to_be_visible()
    await expect(page.get_by_test_id("codes").locator("li")).to_have_count(6)
    await live_connection(page)
    await qr_drawn(page)


async def vote(page: Page, polls: Polls) -> None:
    """The ballot (one and several choices) with the live results under it."""
    await page.goto(f"/p/{polls.live.id}")
    await expect(page.get_by_test_id("ballot-form")).to_be_visible()
    await expect(page.get_by_test_id("bar")).to_have_count(6)
    await live_connection(page)


async def vote_errors(page: Page, polls: Polls) -> None:
    """The ballot submitted empty: the per-question errors."""
    await vote(page, polls)
    await page.get_by_test_id("vote-submit").click()
    await expect(page.get_by_test_id("ballot-form").locator(".field-error")).to_have_count(2)


async def cast_in_page(page: Page, polls: Polls) -> None:
    await vote(page, polls)
    await page.get_by_label("Mountains", exact=True).check()
    await page.get_by_label("Friday", exact=True).check()
    await page.get_by_test_id("vote-submit").click()
    voted_card = page.get_by_test_id("voted")
    await expect(voted_card.get_by_role("heading", name=re.compile("Your vote counted"))).to_be_visible()
    await expect(voted_card.get_by_test_id("receipt")).not_to_be_empty()


async def voted(page: Page, polls: Polls) -> None:
    """"Your vote counted" with the receipt and the "Change my vote" button."""
    await cast_in_page(page, polls)
    await expect(page.get_by_role("button", name="Change my vote")).to_be_visible()


async def change_vote(page: Page, polls: Polls) -> None:
    """The ballot again, to change the vote (revotes allowed)."""
    await cast_in_page(page, polls)
    await page.get_by_role("button", name="Change my vote").click()
    await expect(page.get_by_role("heading", name="Change your vote")).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel")).to_be_visible()


async def live_results(page: Page, polls: Polls) -> None:
    """The results after another ballot arrives live (no reload)."""
    await vote(page, polls)
    before = int(await page.get_by_test_id("total-count").inner_text())
    q0, o0 = polls.live.option(0, 2)
    q1, o1 = polls.live.option(1, 2)
    cast_ballot(polls.base, polls.live, {q0: [o0], q1: [o1]})
    await expect(page.get_by_test_id("total-count")).not_to_have_text(str(before))


async def code_entry(page: Page, polls: Polls) -> None:
    """An access-code poll: the code form, results hidden until the close."""
    await page.goto(f"/p/{polls.codes.id}")
    await expect(page.get_by_role("heading", name="Enter your access code")).to_be_visible()
    await expect(page.get_by_test_id("results-hidden")).to_be_visible()
    await live_connection(page)


async def code_error(page: Page, polls: Polls) -> None:
    """A wrong access code: refused before the ballot shows (GET …/codes/{code})."""
    await code_entry(page, polls)
    await page.get_by_role("textbox", name="Access code").fill("notacode")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_test_id("code-entry").get_by_test_id("error")).to_contain_text("not valid")
    await expect(page.get_by_test_id("ballot-form")).to_have_count(0)


async def code_ballot(page: Page, polls: Polls) -> None:
    """The ballot of an access-code poll ("Use another code")."""
    await code_entry(page, polls)
    await page.get_by_role("textbox", name="Access code").fill(polls.code())
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_test_id("ballot-form")).to_be_visible()
    await expect(page.get_by_role("button", name="Use another code")).to_be_visible()


async def code_voted(page: Page, polls: Polls) -> None:
    """"Your vote counted" on an access-code poll whose results come after the close."""
    await code_ballot(page, polls)
    await page.get_by_label("Grace", exact=True).check()
    await page.get_by_test_id("vote-submit").click()
    await expect(page.get_by_test_id("voted").get_by_role(
        "heading", name=re.compile("Your vote counted"))).to_be_visible()


async def present(page: Page, polls: Polls) -> None:
    """Presenter view: the first question's slide with live results, join code and QR code."""
    await page.goto(f"/p/{polls.live.id}/present")
    await expect(page.get_by_test_id("present")).to_be_visible()
    await expect(page.get_by_test_id("bar")).to_have_count(3)
    await live_connection(page)
    await qr_drawn(page)


async def present_hidden(page: Page, polls: Polls) -> None:
    """Presenter view of a poll whose results are shown after the close."""
    await page.goto(f"/p/{polls.codes.id}/present")
    await expect(page.get_by_test_id("results-hidden")).to_be_visible()
    await live_connection(page)
    await qr_drawn(page)


async def admin(page: Page, polls: Polls) -> None:
    """Organizer controls from the admin link (token in the fragment)."""
    await page.goto(f"/p/{polls.live.id}/admin#token={polls.live.token}")
    await expect(page).to_have_url(f"{polls.base}/p/{polls.live.id}/admin")
    await expect(page.get_by_test_id("close-poll")).to_be_visible()
    await expect(page.get_by_test_id("bar")).to_have_count(6)
    await live_connection(page)
    await qr_drawn(page)


async def admin_codes(page: Page, polls: Polls) -> None:
    """Organizer controls of an access-code poll, results after the close, codes not here."""
    await page.goto(f"/p/{polls.codes.id}/admin#token={polls.codes.token}")
    await expect(page).to_have_url(f"{polls.base}/p/{polls.codes.id}/admin")
    await expect(page.get_by_role("heading", name="Access codes")).to_be_visible()
    await expect(page.get_by_test_id("bar")).to_have_count(2)  # the organizer sees them
    await live_connection(page)
    await qr_drawn(page)


def throwaway_poll(polls: Polls) -> ApiPoll:
    return create_poll(polls.base, {
        "title": "Accessibility: to close and delete",
        "questions": [{"text": "Fine?", "options": [{"label": "Yes"}, {"label": "No"}]}]})


async def admin_closed_notice(page: Page, polls: Polls) -> None:
    """Organizer controls right after "Close poll": the notice."""
    poll = throwaway_poll(polls)
    await page.goto(f"/p/{poll.id}/admin#token={poll.token}")
    await live_connection(page)
    await page.get_by_test_id("close-poll").click()
    await expect(page.get_by_text("The poll is closed.")).to_be_visible()
    await expect(page.get_by_test_id("reopen-poll")).to_be_enabled()


async def admin_delete_dialog(page: Page, polls: Polls) -> None:
    """Organizer controls asking "Delete this poll?" in the app's own dialog."""
    poll = throwaway_poll(polls)
    await page.goto(f"/p/{poll.id}/admin#token={poll.token}")
    await live_connection(page)
    await page.get_by_role("button", name="Delete poll").click()
    dialog = page.get_by_role("dialog", name="Delete this poll?")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()


async def admin_deleted(page: Page, polls: Polls) -> None:
    """Organizer controls after "Delete poll" (confirmed in the dialog)."""
    await admin_delete_dialog(page, polls)
    await page.get_by_role("dialog").get_by_role("button", name="Delete poll").click()
    await expect(page.get_by_test_id("deleted")).to_be_visible()


async def admin_token_form(page: Page, polls: Polls) -> None:
    """Organizer controls without a token in this browser: the form asking for it."""
    await page.goto(f"/p/{polls.live.id}/admin")
    await expect(page.get_by_label("Organizer link or token")).to_be_visible()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("#admin-token-err")).to_be_visible()


async def closed(page: Page, polls: Polls) -> None:
    """The vote page of a closed poll (the ballot disabled, the final results)."""
    await page.goto(f"/p/{polls.closed.id}")
    await expect(page.get_by_test_id("closed-banner")).to_be_visible()
    await expect(page.get_by_test_id("status-pill")).to_have_text(re.compile("closed", re.I))
    await expect(page.get_by_test_id("total-count")).to_have_text("3")
    await live_connection(page)


async def closed_after_voting(page: Page, polls: Polls) -> None:
    """"Your vote counted" when the organizer closes the poll meanwhile (live)."""
    poll = throwaway_poll(polls)
    await page.goto(f"/p/{poll.id}")
    await live_connection(page)
    await page.get_by_label("Yes", exact=True).check()
    await page.get_by_test_id("vote-submit").click()
    voted_card = page.get_by_test_id("voted")
    await expect(voted_card.get_by_role("heading", name=re.compile("Your vote counted"))).to_be_visible()
    call(polls.base, "POST", f"/api/polls/{poll.id}/close", {},
         {"Authorization": f"Bearer {poll.token}"})
    await expect(voted_card.get_by_test_id("closed-banner")).to_be_visible()
    await expect(page.get_by_test_id("status-pill")).to_have_text(re.compile("closed", re.I))


async def closed_admin(page: Page, polls: Polls) -> None:
    """Organizer controls of a closed poll (Reopen)."""
    await page.goto(f"/p/{polls.closed.id}/admin#token={polls.closed.token}")
    await expect(page.get_by_test_id("reopen-poll")).to_be_visible()
    await live_connection(page)


async def closed_present(page: Page, polls: Polls) -> None:
    """Presenter view of a closed poll: "Voting closed" instead of the join code and QR code."""
    await page.goto(f"/p/{polls.closed.id}/present")
    await expect(page.get_by_test_id("status-pill")).to_have_text(re.compile("closed", re.I))
    await expect(page.get_by_test_id("closed-state")).to_be_visible()
    await expect(page.get_by_test_id("bar")).to_have_count(2)
    await live_connection(page)


async def not_found(page: Page, polls: Polls) -> None:
    """A poll that does not exist."""
    await page.goto("/p/zzzzzzzz")
    await expect(page.get_by_test_id("not-found")).to_be_visible()


async def my_polls(page: Page, polls: Polls) -> None:
    """The home page listing the polls this browser created ("My polls")."""
    await fill_and_create(page)
    await page.goto("/")
    await expect(page.get_by_test_id("my-poll")).to_have_count(1)
    await expect(page.get_by_test_id("my-poll-status")).to_have_text("Open")


async def present_slide_two(page: Page, polls: Polls) -> None:
    """Presenter view moved to the second question with the arrow key."""
    await present(page, polls)
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_test_id("present")).to_have_attribute("data-slide", "2")
    await expect(page.get_by_test_id("bar")).to_have_count(3)


async def present_concealed(page: Page, polls: Polls) -> None:
    """Presenter view with the results hidden (H): the voter count only."""
    await present(page, polls)
    await page.keyboard.press("h")
    await expect(page.get_by_test_id("results-concealed")).to_be_visible()


async def present_deleted(page: Page, polls: Polls) -> None:
    """Presenter view of a poll deleted while it is shown."""
    poll = throwaway_poll(polls)
    await page.goto(f"/p/{poll.id}/present")
    await live_connection(page)
    call(polls.base, "DELETE", f"/api/polls/{poll.id}", None, {"Authorization": f"Bearer {poll.token}"})
    await expect(page.get_by_test_id("present-deleted")).to_be_visible()


async def vote_results_after_vote(page: Page, polls: Polls) -> None:
    """A poll that shows its results only after the vote: the ballot, the voter count, no bars."""
    poll = create_poll(polls.base, {
        "title": "Accessibility: results after the vote", "show_results": "after_vote",
        "questions": [{"text": "Cats or dogs?", "options": [{"label": "Cats"}, {"label": "Dogs"}]}]})
    await page.goto(f"/p/{poll.id}")
    await expect(page.get_by_test_id("ballot-form")).to_be_visible()
    await expect(page.get_by_test_id("results-after-vote")).to_be_visible()
    await live_connection(page)


async def code_used(page: Page, polls: Polls) -> None:
    """An access code that was already used: refused before the ballot shows."""
    code = polls.code()
    q, o = polls.codes.option(0, 0)
    call(polls.base, "POST", f"/api/polls/{polls.codes.id}/ballots", {"choices": {q: [o]}, "code": code})
    await code_entry(page, polls)
    await page.get_by_role("textbox", name="Access code").fill(code)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_test_id("code-entry").get_by_test_id("error")).to_contain_text("already used")


async def code_revote(page: Page, polls: Polls) -> None:
    """A used code where revotes are allowed: the ballot, saying it replaces the earlier one."""
    poll = create_poll(polls.base, {
        "title": "Accessibility: codes with revotes", "eligibility": "codes", "code_count": 2,
        "allow_revote": True,
        "questions": [{"text": "Who chairs?", "options": [{"label": "Ada"}, {"label": "Grace"}]}]})
    q, o = poll.option(0, 0)
    call(polls.base, "POST", f"/api/polls/{poll.id}/ballots", {"choices": {q: [o]}, "code": poll.codes[0]})
    await page.goto(f"/p/{poll.id}#code={poll.codes[0]}")
    await expect(page.get_by_test_id("revote-replaces")).to_be_visible()
    await expect(page.get_by_test_id("ballot-form")).to_be_visible()


async def code_from_slip(page: Page, polls: Polls) -> None:
    """The ballot opened from a printed slip's QR code (the code in the fragment)."""
    await page.goto(f"/p/{polls.codes.id}#code={polls.code()}")
    await expect(page.get_by_test_id("ballot-form")).to_be_visible()
    await expect(page.get_by_test_id("using-code")).to_be_visible()


async def page_not_found(page: Page, polls: Polls) -> None:
    """The client's own "page not found" for an unknown path."""
    await page.goto("/no-such-page")
    await expect(page.get_by_test_id("page-not-found")).to_be_visible()


Scenario = Callable[[Page, Polls], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {
    "home": home,
    "join-error": join_error,
    "create-form": create_form,
    "share": share,
    "share-copied": share_copied,
    "admin-after-create": admin_after_create,
    "vote": vote,
    "vote-errors": vote_errors,
    "voted": voted,
    "change-vote": change_vote,
    "live-results": live_results,
    "code-entry": code_entry,
    "code-error": code_error,
    "code-ballot": code_ballot,
    "code-voted": code_voted,
    "present": present,
    "present-results-after-close": present_hidden,
    "admin": admin,
    "admin-codes": admin_codes,
    "admin-closed-notice": admin_closed_notice,
    "admin-delete-dialog": admin_delete_dialog,
    "admin-deleted": admin_deleted,
    "admin-token-form": admin_token_form,
    "closed": closed,
    "closed-after-voting": closed_after_voting,
    "closed-admin": closed_admin,
    "closed-present": closed_present,
    "poll-not-found": not_found,
    "my-polls": my_polls,
    "present-slide-2": present_slide_two,
    "present-results-concealed": present_concealed,
    "present-deleted": present_deleted,
    "vote-results-after-vote": vote_results_after_vote,
    "code-used": code_used,
    "code-revote": code_revote,
    "code-from-slip": code_from_slip,
    "page-not-found": page_not_found,
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_page_has_no_wcag_violations(
    embedded_server: Any, browser: Browser, polls: Polls, scenario: str, viewport: str
) -> None:
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run `npm ci` in client/ (axe-core is a devDependency)")
    context = await browser.new_context(base_url=polls.base, viewport=VIEWPORTS[viewport])
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await SCENARIOS[scenario](page, polls)
        violations = await axe_violations(page)
        if violations:
            raise AssertionError(
                f"axe found {len(violations)} WCAG 2.0/2.1 A/AA violation(s) on {scenario} "
                f"({page.url}) at {viewport}:\n{describe(violations)}")
        assert not errors, f"page errors on {scenario}: {errors}"
    finally:
        await context.close()
