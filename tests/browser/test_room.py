"""The room (issue 10): the presenter as slides that fit a projector, the organizer's "My polls",
results after voting, access codes checked before the ballot, printed slips' QR codes, and the
client's own "page not found".  Real chromium against the embedded server; screenshots of every
new page at 1920x1080 and 1280x720 go to test-artifacts/room/ (gitignored)."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000  # every wait has a deadline; nothing sleeps blindly
expect.set_options(timeout=TIMEOUT_MS)

SIZES: dict[str, ViewportSize] = {
    "1920x1080": {"width": 1920, "height": 1080},
    "1280x720": {"width": 1280, "height": 720},
}


# --- the HTTP API --------------------------------------------------------------------------------

def call(base: str, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    hdrs = {"Accept": "application/json", **(headers or {})}
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw, status, h = r.read(), r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        raw, status, h = exc.read(), exc.code, dict(exc.headers)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return status, parsed, h


def create(base: str, body: dict[str, Any]) -> dict[str, Any]:
    status, res, _ = call(base, "POST", "/api/polls", body)
    assert status == 201, (status, res)
    return dict(res)


def ballot(base: str, poll: dict[str, Any], picks: list[int], code: str | None = None) -> dict[str, Any]:
    """Cast one ballot choosing option picks[i] of question i (a new voter, or the access code)."""
    questions = poll["poll"]["questions"]
    choices = {q["id"]: [q["options"][i]["id"]] for q, i in zip(questions, picks)}
    headers: dict[str, str] = {}
    body: dict[str, Any] = {"choices": choices}
    if code is None:
        _, voter, _ = call(base, "POST", "/api/voters", {})
        headers["X-Voter-Token"] = voter["voter_token"]
    else:
        body["code"] = code
    status, res, _ = call(base, "POST", f"/api/polls/{poll['poll']['id']}/ballots", body, headers)
    assert status in (200, 201), (status, res)
    return dict(res)


def admin(base: str, poll: dict[str, Any], action: str) -> None:
    pid, token = poll["poll"]["id"], poll["admin_token"]
    auth = {"Authorization": f"Bearer {token}"}
    if action == "delete":
        status, res, _ = call(base, "DELETE", f"/api/polls/{pid}", None, auth)
    else:
        status, res, _ = call(base, "POST", f"/api/polls/{pid}/{action}", {}, auth)
    assert status in (200, 204), (status, res)


LONG = ("an option whose label is long enough to wrap on a projector, as real options "
        "written by real organizers tend to be, number")


def long_poll(base: str) -> dict[str, Any]:
    """2 questions x 6 long options, a closing time, some ballots."""
    closes = (datetime.now(timezone.utc) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    poll = create(base, {
        "title": "Which of these long-winded proposals should the committee take forward to the "
                 "general assembly next spring?",
        "closes_at": closes, "visibility": "unlisted",
        "questions": [
            {"text": "First question: which proposal " + "really " * 12 + "matters most?",
             "options": [{"label": f"{LONG} {i}"} for i in range(1, 7)]},
            {"text": "Second question: and which proposals could wait?", "kind": "multiple",
             "min_choices": 1, "max_choices": 3,
             "options": [{"label": f"Second {LONG} {i}"} for i in range(1, 7)]},
        ]})
    for picks in ([0, 1], [0, 2], [3, 2], [5, 5]):
        ballot(base, poll, picks)
    return poll


# --- helpers -------------------------------------------------------------------------------------

JSQR = Path(__file__).resolve().parents[2] / "client" / "node_modules" / "jsqr" / "dist" / "jsQR.js"

DECODE_QR = """async (el) => {
  const svg = el.querySelector('svg');
  if (!svg) return null;
  const img = new Image();
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg));
  await img.decode();
  const size = 480;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(img, 0, 0, size, size);
  const found = jsQR(ctx.getImageData(0, 0, size, size).data, size, size);
  return found ? found.data : null;
}"""


async def decode_qr(page: Page, qr: Any) -> str | None:
    """What a phone's camera reads from a drawn QR code (jsQR, a devDependency of the client)."""
    if not JSQR.is_file():
        pytest.fail(f"{JSQR} is missing: run `npm ci` in client/ (jsqr is a devDependency)")
    if not await page.evaluate("typeof jsQR === 'function'"):
        await page.add_script_tag(path=str(JSQR))
    await expect(qr.locator("svg")).to_be_visible()
    result: str | None = await qr.evaluate(DECODE_QR)
    return result

async def new_page(browser: Browser, base: str, size: ViewportSize,
                   contexts: list[BrowserContext], errors: list[str]) -> Page:
    context = await browser.new_context(base_url=base, viewport=size)
    context.set_default_timeout(TIMEOUT_MS)
    contexts.append(context)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return page


@pytest.fixture
def shots(artifacts_dir: Path) -> Path:
    path = artifacts_dir / "room"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def base(embedded_server: Any) -> str:
    return str(embedded_server.url).rstrip("/")


async def fits_screen(page: Page) -> None:
    """Nothing scrolls: the document is no taller or wider than the viewport, the slide's text
    fits its box, and every bar, the join code and the QR code lie inside the viewport."""
    size = page.viewport_size
    assert size is not None
    dims = await page.evaluate("""() => ({
        docH: document.documentElement.scrollHeight, docW: document.documentElement.scrollWidth,
        bodyH: document.body.scrollHeight, innerH: innerHeight, innerW: innerWidth,
        slideOver: (() => { const s = document.querySelector('[data-testid=slide]');
                            return s.scrollHeight - s.clientHeight; })(),
    })""")
    assert dims["docH"] <= size["height"], dims
    assert dims["bodyH"] <= size["height"], dims
    assert dims["docW"] <= size["width"], dims
    assert dims["slideOver"] <= 1, dims
    for locator in [*await page.get_by_test_id("bar").all(), page.get_by_test_id("join-code"),
                    page.get_by_test_id("qr"), page.get_by_test_id("slide-question")]:
        box = await locator.bounding_box()
        assert box is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5, box


# --- the presenter ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", list(SIZES))
async def test_presenter_slides_fit_and_move_with_the_keyboard(
    base: str, browser: Browser, shots: Path, size: str
) -> None:
    poll = long_poll(base)
    pid = poll["poll"]["id"]
    questions = poll["poll"]["questions"]
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        page = await new_page(browser, base, SIZES[size], contexts, errors)
        await page.goto(f"/p/{pid}/present")
        present = page.get_by_test_id("present")
        await expect(present).to_have_attribute("data-slide", "1")
        await expect(page.get_by_test_id("slide-question")).to_have_text(questions[0]["text"])
        await expect(page.get_by_test_id("bar")).to_have_count(6)
        await expect(page.get_by_test_id("total-count")).to_have_text("4")
        await expect(page.get_by_test_id("join-code")).to_have_text(pid)
        assert await decode_qr(page, page.get_by_test_id("qr")) == f"{base}/p/{pid}"
        await expect(page.get_by_test_id("countdown")).to_contain_text(re.compile(r"Closes in \d"))
        await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
        await fits_screen(page)
        await page.screenshot(path=str(shots / f"present-slide1-{size}.png"))

        # Clicker keys: → and Page Down forward, ← and Page Up back, never past either end.
        await page.keyboard.press("ArrowRight")
        await expect(present).to_have_attribute("data-slide", "2")
        await expect(page.get_by_test_id("slide-question")).to_have_text(questions[1]["text"])
        bar = page.locator('[data-testid="bar"][data-option$=" 3"]')
        await expect(bar).to_have_attribute("data-count", "2")
        await expect(bar).to_contain_text("% of voters")
        await fits_screen(page)
        await page.screenshot(path=str(shots / f"present-slide2-{size}.png"))
        await page.keyboard.press("PageDown")
        await expect(present).to_have_attribute("data-slide", "2")
        await page.keyboard.press("ArrowLeft")
        await expect(present).to_have_attribute("data-slide", "1")
        await page.keyboard.press("PageDown")
        await expect(present).to_have_attribute("data-slide", "2")
        await page.keyboard.press("PageUp")
        await expect(present).to_have_attribute("data-slide", "1")

        # H hides the results (the voter count stays) and reveals them again.
        await page.keyboard.press("h")
        await expect(page.get_by_test_id("results-concealed")).to_be_visible()
        await expect(page.get_by_test_id("bar")).to_have_count(0)
        await expect(page.get_by_test_id("total-count")).to_have_text("4")
        ballot(base, poll, [1, 1])
        await expect(page.get_by_test_id("total-count")).to_have_text("5")
        await expect(page.get_by_test_id("bar")).to_have_count(0)
        await expect(page.get_by_test_id("join-code")).to_be_visible()
        await page.screenshot(path=str(shots / f"present-hidden-{size}.png"))
        await page.keyboard.press("H")
        await expect(page.get_by_test_id("bar")).to_have_count(6)
        # Slide 1 again: the hidden ballot's first choice ("… 2") shows now.
        await expect(page.locator('[data-testid="bar"][data-option$=" 2"]')).to_have_attribute("data-count", "1")
        await fits_screen(page)

        # F asks for full screen (headless chromium grants it to a key press).
        await page.keyboard.press("f")
        await expect(page.get_by_role("button", name=re.compile("Exit full screen"))).to_be_visible()
        await page.keyboard.press("f")
        await expect(page.get_by_role("button", name=re.compile("^Full screen"))).to_be_visible()
        assert not errors, errors
    finally:
        for c in contexts:
            await c.close()


async def test_presenter_closed_deleted_and_connection_warning(
    base: str, browser: Browser, shots: Path
) -> None:
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        for size in SIZES:
            poll = long_poll(base)
            pid = poll["poll"]["id"]
            page = await new_page(browser, base, SIZES[size], contexts, errors)
            await page.goto(f"/p/{pid}/present")
            await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")

            # Closed: a clear closed state instead of the join panel; final results stay.
            admin(base, poll, "close")
            await expect(page.get_by_test_id("closed-state")).to_be_visible()
            await expect(page.get_by_test_id("status-pill")).to_have_text("Voting closed")
            await expect(page.get_by_test_id("qr")).to_have_count(0)
            await expect(page.get_by_test_id("countdown")).to_have_count(0)
            await expect(page.get_by_test_id("bar")).to_have_count(6)
            await fits_screen_closed(page)
            await page.screenshot(path=str(shots / f"present-closed-{size}.png"))

            # The connection drops: a warning readable from the back of the room.
            await page.context.set_offline(True)
            warning = page.get_by_test_id("connection-warning")
            await expect(warning).to_be_visible()
            box = await warning.bounding_box()
            assert box is not None and box["height"] >= 40, box
            font = await warning.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
            assert font >= 19, font
            await page.screenshot(path=str(shots / f"present-offline-{size}.png"))
            await page.context.set_offline(False)
            await expect(warning).to_have_count(0)
            await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")

            # Deleted: the whole screen says so, no join code, no QR code.
            admin(base, poll, "delete")
            await expect(page.get_by_test_id("present-deleted")).to_be_visible()
            await expect(page.get_by_text("This poll was deleted")).to_be_visible()
            await expect(page.get_by_test_id("qr")).to_have_count(0)
            await expect(page.get_by_test_id("join-code")).to_have_count(0)
            await page.screenshot(path=str(shots / f"present-deleted-{size}.png"))
        assert not errors, errors
    finally:
        for c in contexts:
            await c.close()


async def fits_screen_closed(page: Page) -> None:
    size = page.viewport_size
    assert size is not None
    h = await page.evaluate("document.documentElement.scrollHeight")
    assert h <= size["height"], (h, size)


# --- My polls and the organizer's link ---------------------------------------------------------

async def create_in_page(page: Page, title: str) -> str:
    await page.goto("/")
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("Question 1 text").fill("Tea or coffee?")
    await page.get_by_label("Option 1 of question 1", exact=True).fill("Tea")
    await page.get_by_label("Option 2 of question 1", exact=True).fill("Coffee")
    await page.get_by_test_id("create-submit").click()
    heading = page.get_by_role("heading", name="Your poll is ready")
    await expect(heading).to_be_visible()
    await expect(heading).to_be_focused()
    return str(await page.get_by_test_id("join-code").first.get_attribute("data-code"))


async def test_my_polls_lists_what_this_browser_created(base: str, browser: Browser, shots: Path) -> None:
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        page = await new_page(browser, base, SIZES["1280x720"], contexts, errors)
        await page.goto("/")
        await expect(page.get_by_role("heading", name="Join a poll")).to_be_visible()
        await expect(page.get_by_test_id("my-polls")).to_have_count(0)  # nothing created yet

        first = await create_in_page(page, "My polls: breakfast")
        second = await create_in_page(page, "My polls: dinner")
        _, one, _ = call(base, "POST", "/api/voters", {})
        _, p2, _ = call(base, "GET", f"/api/polls/{second}")
        q = p2["poll"]["questions"][0]
        call(base, "POST", f"/api/polls/{second}/ballots",
             {"choices": {q["id"]: [q["options"][0]["id"]]}}, {"X-Voter-Token": one["voter_token"]})

        await page.goto("/")
        rows = page.get_by_test_id("my-poll")
        await expect(rows).to_have_count(2)
        row1 = page.locator(f'[data-testid="my-poll"][data-poll="{first}"]')
        row2 = page.locator(f'[data-testid="my-poll"][data-poll="{second}"]')
        await expect(row1).to_contain_text("My polls: breakfast")
        await expect(row1.get_by_test_id("my-poll-status")).to_have_text("Open")
        await expect(row1.get_by_test_id("my-poll-voters")).to_have_text("0 voters")
        await expect(row2.get_by_test_id("my-poll-voters")).to_have_text("1 voter")
        for size in SIZES:
            await page.set_viewport_size(SIZES[size])
            await page.get_by_test_id("my-polls").screenshot(path=str(shots / f"my-polls-{size}.png"))

        # "Present" and "Organize" lead to the poll's pages; the admin page shows its own link.
        await row1.get_by_role("link", name=re.compile("^Present")).click()
        await expect(page).to_have_url(f"{base}/p/{first}/present")
        await expect(page.get_by_test_id("join-code")).to_have_text(first)
        await page.go_back()
        await page.locator(f'[data-testid="my-poll"][data-poll="{first}"]').get_by_role(
            "link", name=re.compile("^Organize")).click()
        await expect(page).to_have_url(f"{base}/p/{first}/admin")
        for size in SIZES:
            await page.set_viewport_size(SIZES[size])
            await page.screenshot(path=str(shots / f"admin-{size}.png"), full_page=True)
        admin_link = page.get_by_test_id("admin-link")
        await expect(admin_link).to_have_attribute("href", re.compile(rf"/p/{first}/admin#token=.+"))
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        copy = page.get_by_role("button", name=re.compile("organizer link"))
        await copy.click()
        await expect(copy).to_contain_text("Copied")
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert copied == await admin_link.get_attribute("href"), copied

        # Delete asks in the app's own dialog; Cancel keeps the poll, confirming deletes it.
        await page.get_by_role("button", name="Delete poll").click()
        dialog = page.get_by_role("dialog", name="Delete this poll?")
        await expect(dialog).to_be_visible()
        await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        for size in ("1920x1080", "1280x720"):
            await page.set_viewport_size(SIZES[size])
            await page.screenshot(path=str(shots / f"admin-delete-dialog-{size}.png"))
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        assert call(base, "GET", f"/api/polls/{first}")[0] == 200
        await page.get_by_role("button", name="Delete poll").click()
        await page.get_by_role("dialog").get_by_role("button", name="Delete poll").click()
        await expect(page.get_by_test_id("deleted")).to_be_visible()
        assert call(base, "GET", f"/api/polls/{first}")[0] == 404

        await page.goto("/")
        await expect(page.get_by_test_id("my-poll")).to_have_count(1)
        assert not errors, errors
    finally:
        for c in contexts:
            await c.close()


# --- results after voting -------------------------------------------------------------------------

async def test_after_vote_hides_the_bars_until_the_vote(base: str, browser: Browser, shots: Path) -> None:
    status, res, _ = call(base, "POST", "/api/polls", {
        "title": "After the vote", "show_results": "after_vote", "allow_revote": True,
        "questions": [{"text": "Cats or dogs?", "options": [{"label": "Cats"}, {"label": "Dogs"}]}]})
    assert status == 201, (status, res)
    pid = res["poll"]["id"]
    assert res["poll"]["show_results"] == "after_vote"
    ballot(base, res, [0])
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        for n, size in enumerate(SIZES):
            page = await new_page(browser, base, SIZES[size], contexts, errors)
            await page.goto(f"/p/{pid}")
            await expect(page.get_by_test_id("ballot-form")).to_be_visible()
            await expect(page.get_by_test_id("results-after-vote")).to_be_visible()
            await expect(page.get_by_test_id("bar")).to_have_count(0)
            # The number of voters shows; each earlier loop voted once more.
            await expect(page.get_by_test_id("total-count")).to_have_text(str(1 + n))
            await page.screenshot(path=str(shots / f"vote-after-vote-hidden-{size}.png"), full_page=True)
            await page.get_by_label("Dogs", exact=True).check()
            await page.get_by_test_id("vote-submit").click()
            await expect(page.get_by_test_id("voted")).to_be_visible()
            await expect(page.get_by_test_id("bar")).to_have_count(2)
            await expect(page.get_by_test_id("results-after-vote")).to_have_count(0)
            # The page remembers the vote: bars stay after a reload.
            await page.reload()
            await expect(page.get_by_test_id("voted")).to_be_visible()
            await expect(page.get_by_test_id("bar")).to_have_count(2)
        # Once closed, everybody sees the results, first, and the greyed ballot after.
        admin(base, res, "close")
        page = await new_page(browser, base, SIZES["1280x720"], contexts, errors)
        await page.goto(f"/p/{pid}")
        await expect(page.get_by_test_id("bar")).to_have_count(2)
        await expect(page.get_by_test_id("ballot-form")).to_be_visible()
        order = await page.evaluate("""() => {
            const r = document.querySelector('[data-testid=results]');
            const b = document.querySelector('[data-testid=ballot-form]');
            return !!(r.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
        }""")
        assert order, "on a closed poll the results come before the ballot"
        await expect(page.get_by_test_id("revote-note")).to_have_count(0)
        assert not errors, errors
    finally:
        for c in contexts:
            await c.close()


# --- access codes -----------------------------------------------------------------------------------

def codes_poll(base: str, revote: bool = False) -> dict[str, Any]:
    return create(base, {"title": "Board election", "eligibility": "codes", "code_count": 6,
                         "allow_revote": revote,
                         "questions": [{"text": "Who chairs?",
                                        "options": [{"label": "Ada"}, {"label": "Grace"}]}]})


async def test_invalid_and_used_codes_are_told_apart_before_the_ballot(
    base: str, browser: Browser, shots: Path
) -> None:
    poll = codes_poll(base)
    pid = poll["poll"]["id"]
    used = poll["codes"][0]
    ballot(base, poll, [0], code=used)
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        for size in SIZES:
            page = await new_page(browser, base, SIZES[size], contexts, errors)
            await page.goto(f"/p/{pid}")
            entry = page.get_by_test_id("code-entry")
            await page.get_by_role("textbox", name="Access code").fill("wrongcode")
            await page.get_by_role("button", name="Continue").click()
            await expect(entry.get_by_test_id("error")).to_have_text("This code is not valid for this poll.")
            await expect(page.get_by_test_id("ballot-form")).to_have_count(0)
            await page.screenshot(path=str(shots / f"code-invalid-{size}.png"), full_page=True)

            # The used code, typed in capitals with a space: recognised, and refused as used.
            await page.get_by_role("textbox", name="Access code").fill(f"{used[:4].upper()} {used[4:]}")
            await page.get_by_role("button", name="Continue").click()
            await expect(entry.get_by_test_id("error")).to_have_text("This code was already used.")
            await expect(page.get_by_test_id("ballot-form")).to_have_count(0)
            # Nobody else's ballot is shown for it (the receipt stays on the voter's device).
            await expect(page.get_by_test_id("voted")).to_have_count(0)
            await page.screenshot(path=str(shots / f"code-used-{size}.png"), full_page=True)

        # With revotes allowed a used code may vote again, and the page says what that does.
        revote = codes_poll(base, revote=True)
        ballot(base, revote, [0], code=revote["codes"][0])
        page = await new_page(browser, base, SIZES["1280x720"], contexts, errors)
        await page.goto(f"/p/{revote['poll']['id']}")
        await page.get_by_role("textbox", name="Access code").fill(revote["codes"][0])
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_test_id("revote-replaces")).to_contain_text("replaces the earlier ballot")
        await expect(page.get_by_test_id("ballot-form")).to_be_visible()
        assert not errors, errors
    finally:
        for c in contexts:
            await c.close()


async def test_a_printed_slips_qr_opens_the_prefilled_ballot(
    base: str, browser: Browser, shots: Path
) -> None:
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        organizer = await new_page(browser, base, SIZES["1280x720"], contexts, errors)
        await organizer.goto("/")
        await organizer.get_by_label("Title").fill("Slips")
        await organizer.get_by_label("Question 1 text").fill("Yes or no?")
        await organizer.get_by_label("Option 1 of question 1", exact=True).fill("Yes")
        await organizer.get_by_label("Option 2 of question 1", exact=True).fill("No")
        await organizer.get_by_label("Only with a one-time access code").check()
        await organizer.get_by_label("Number of access codes").fill("4")
        await organizer.get_by_test_id("create-submit").click()
        slips = organizer.get_by_test_id("code-slip")
        await expect(slips).to_have_count(4)
        slip = slips.first
        await expect(slip.get_by_test_id("qr").locator("svg")).to_be_visible()
        code = str(await slip.get_by_test_id("slip-code").get_attribute("data-code"))
        assert re.fullmatch(r"[a-z0-9]{4,}", code), code
        pid = str(await organizer.get_by_test_id("join-code").first.get_attribute("data-code"))
        # The slip shows the code in groups of four and its QR code encodes the vote page with
        # the code in the fragment (never in the query, so it reaches no server log).
        shown = await slip.get_by_test_id("slip-code").inner_text()
        assert shown.replace(" ", "") == code
        target = await decode_qr(organizer, slip.get_by_test_id("qr"))
        assert target == f"{base}/p/{pid}#code={code}", target
        for size in SIZES:
            await organizer.set_viewport_size(SIZES[size])
            await organizer.get_by_test_id("codes").screenshot(path=str(shots / f"code-slips-{size}.png"))

        # A phone scans it: the ballot opens with the code filled in, and the code leaves the address bar.
        phone_ctx = await browser.new_context(base_url=base, viewport={"width": 390, "height": 844},
                                              is_mobile=True, has_touch=True)
        phone_ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(phone_ctx)
        phone = await phone_ctx.new_page()
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        await phone.goto(target)
        await expect(phone.get_by_test_id("ballot-form")).to_be_visible()
        await expect(phone.get_by_test_id("using-code")).to_have_attribute("data-code", code)
        await expect(phone).to_have_url(f"{base}/p/{pid}")
        await phone.get_by_label("Yes", exact=True).check()
        await phone.get_by_test_id("vote-submit").click()
        await expect(phone.get_by_test_id("voted")).to_be_visible()
        # The device that voted keeps the receipt and sees its ballot again after a reload.
        await phone.reload()
        await expect(phone.get_by_test_id("voted")).to_contain_text("Yes")
        assert not errors, errors
    finally:
        for c in contexts:
            await c.close()


# --- page not found and join codes as people type them -------------------------------------------

async def test_unknown_paths_get_the_clients_page_not_found(
    client_server: Any, browser: Browser, shots: Path
) -> None:
    """Embedded, and through nginx in the cluster."""
    base = str(client_server.url).rstrip("/")
    label = "cluster" if hasattr(client_server, "backend_names") else "embedded"
    status, body, headers = call(base, "GET", "/no-such-page", headers={"Accept": "text/html"})
    assert status == 404, status
    assert "text/html" in headers.get("Content-Type", ""), headers
    assert '<div id="root">' in str(body), body
    poll = create(base, {"title": "Case", "questions": [
        {"text": "Q?", "options": [{"label": "A"}, {"label": "B"}]}]})
    pid = poll["poll"]["id"]
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        for size in SIZES:
            page = await new_page(browser, base, SIZES[size], contexts, errors)
            response = await page.goto("/no-such-page")
            assert response is not None and response.status == 404
            await expect(page.get_by_test_id("page-not-found")).to_be_visible()
            await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
            await page.screenshot(path=str(shots / f"page-not-found-{label}-{size}.png"))
            await page.get_by_role("link", name="Go to the home page").click()
            await expect(page.get_by_role("heading", name="Join a poll")).to_be_visible()
        # The API's own 404 stays JSON.
        status, body, headers = call(base, "GET", "/api/nothing-here")
        assert status == 404 and "application/json" in headers.get("Content-Type", ""), headers
        # A mistyped /p/ID in capitals and with a space leads to the poll.
        page = await new_page(browser, base, SIZES["1280x720"], contexts, errors)
        await page.goto(f"/p/{pid[:4].upper()}%20{pid[4:].upper()}")
        await expect(page.get_by_test_id("poll-title")).to_have_text("Case")
        await expect(page).to_have_url(f"{base}/p/{pid}")
        # The join form takes the same.
        await page.goto("/")
        await page.get_by_label("Join code").fill(f" {pid[:4].upper()} {pid[4:]} ")
        await page.get_by_role("button", name="Join", exact=True).click()
        await expect(page).to_have_url(f"{base}/p/{pid}")
        assert not errors, errors
    finally:
        for c in contexts:
            await c.close()
