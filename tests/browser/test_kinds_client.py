"""Ranked and scale questions in the web client (issue 11), in real chromium: the create form
makes both kinds; a ranking by keyboard alone and by touch at 390 px; the runoff view following
ballots cast through the API while the page is open, round by round, on the vote page and the
presenter's slide; a scale question voted in the page with its mean and median shown."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.client import call

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000  # every wait has a deadline
expect.set_options(timeout=TIMEOUT_MS)



def create(base: str, question: dict[str, Any], title: str = "Kinds") -> dict[str, Any]:
    return dict(call(base, "POST", "/api/polls", {"title": title, "questions": [question]})["poll"])


def ids(poll: dict[str, Any], *labels: str) -> list[str]:
    by_label = {o["label"]: o["id"] for o in poll["questions"][0]["options"]}
    return [str(by_label[label]) for label in labels]


def cast(base: str, poll: dict[str, Any], *labels: str) -> None:
    """One ballot from a new voter, through the API."""
    voter = call(base, "POST", "/api/voters", {})["voter_token"]
    call(base, "POST", f"/api/polls/{poll['id']}/ballots",
         {"choices": {poll["questions"][0]["id"]: ids(poll, *labels)}}, {"X-Voter-Token": str(voter)})


@pytest.fixture
def base(embedded_server: Any) -> str:
    return str(embedded_server.url).rstrip("/")


@pytest.fixture
async def context(browser: Browser, base: str) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(base_url=base, viewport={"width": 390, "height": 844})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        await ctx.close()


def watch_errors(page: Page, errors: list[str]) -> None:
    """Uncaught exceptions of the page (a 404 for "no ballot yet" is expected, not one)."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))


async def ranking(page: Page) -> list[str]:
    return [str(x) for x in await page.get_by_test_id("rank-item").evaluate_all(
        "els => els.map((e) => e.dataset.option)")]


async def focused(page: Page) -> str:
    return str(await page.evaluate(
        "document.activeElement?.getAttribute('aria-label') || document.activeElement?.innerText || ''"))


async def tab_to(page: Page, js_test: str, limit: int = 40) -> None:
    """Tab (forwards) until `js_test` holds for the focused element; bounded."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"(el => !!el && ({js_test}))(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached an element with {js_test}")


RANKED = {"text": "Where do we eat?", "kind": "ranked",
          "options": [{"label": "Pizza"}, {"label": "Sushi"}, {"label": "Tacos"}, {"label": "Curry"}]}


async def test_ranking_by_keyboard_only(base: str, context: BrowserContext) -> None:
    poll = create(base, {**RANKED, "min_choices": 2, "max_choices": 3})
    page = await context.new_page()
    errors: list[str] = []
    watch_errors(page, errors)
    await page.goto(f"/p/{poll['id']}")
    await expect(page.get_by_test_id("ballot-form")).to_be_visible()
    await expect(page.get_by_text("Rank 2 to 3 options, 1 for your first choice.")).to_be_visible()
    announcer = page.get_by_test_id("rank-announcer")

    # Tab to "Sushi" in the unranked options; Enter ranks it first, and the focus moves on to the
    # next unranked option, so Enter again ranks that one.
    await tab_to(page, "el.dataset.testid === 'rank-add' && el.dataset.option === 'Sushi'")
    await page.keyboard.press("Enter")
    await expect(announcer).to_have_text("Sushi ranked 1st.")
    assert await ranking(page) == ["Sushi"]
    assert "Tacos" in await focused(page)
    await page.keyboard.press("Enter")
    await expect(announcer).to_have_text("Tacos ranked 2nd.")
    assert "Curry" in await focused(page)
    await page.keyboard.press("Enter")
    await expect(announcer).to_contain_text("Curry ranked 3rd.")
    assert await ranking(page) == ["Sushi", "Tacos", "Curry"]
    # At the limit (3) the remaining option cannot be ranked.
    await expect(page.get_by_test_id("rank-add")).to_be_disabled()

    # Move Curry up twice with Enter on its Up button: the focus stays on it.
    await page.locator(f"#rk-{poll['questions'][0]['id']}-{ids(poll, 'Curry')[0]}-up").focus()
    await page.keyboard.press("Enter")
    await expect(announcer).to_have_text("Curry moved up to 2nd.")
    assert await focused(page) == "Move Curry up"
    await page.keyboard.press("Enter")
    await expect(announcer).to_have_text("Curry moved up to 1st.")
    assert await ranking(page) == ["Curry", "Sushi", "Tacos"]
    # At the top Up is disabled: the focus went to Down, not lost to the page.
    assert await focused(page) == "Move Curry down"
    # Remove Tacos (Tab to its remove button), then rank Pizza third.
    await tab_to(page, "el.getAttribute('aria-label') === 'Remove Tacos from the ranking'")
    await page.keyboard.press("Enter")
    await expect(announcer).to_have_text("Tacos removed from the ranking.")
    assert await ranking(page) == ["Curry", "Sushi"]
    await tab_to(page, "el.dataset.testid === 'rank-add' && el.dataset.option === 'Pizza'")
    await page.keyboard.press("Enter")
    assert await ranking(page) == ["Curry", "Sushi", "Pizza"]

    await tab_to(page, "el.dataset.testid === 'vote-submit'")
    await page.keyboard.press("Enter")
    voted = page.get_by_test_id("voted")
    await expect(voted.get_by_role("heading", name=re.compile("Your vote counted"))).to_be_visible()
    await expect(voted).to_contain_text("1. Curry, 2. Sushi, 3. Pizza")
    results = call(base, "GET", f"/api/polls/{poll['id']}/results")
    q = results["questions"][0]
    assert q["rounds"][0]["counts"][ids(poll, "Curry")[0]] == 1
    assert q["winner"] == ids(poll, "Curry")[0]
    assert errors == []


async def test_ranking_by_touch_at_390px(browser: Browser, base: str) -> None:
    poll = create(base, RANKED)
    ctx = await browser.new_context(base_url=base, viewport={"width": 390, "height": 844},
                                    device_scale_factor=2, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = await ctx.new_page()
        await page.goto(f"/p/{poll['id']}")
        form = page.get_by_test_id("ballot-form")
        await expect(form).to_be_visible()
        # Submitting with nothing ranked: the rule's error, nothing sent.
        await page.get_by_test_id("vote-submit").tap()
        await expect(form.get_by_text("Rank at least 1 option.")).to_be_visible()
        for label in ("Tacos", "Pizza", "Sushi"):
            await page.locator(f"[data-testid='rank-add'][data-option='{label}']").tap()
        await expect(page.get_by_test_id("rank-item")).to_have_count(3)
        assert await ranking(page) == ["Tacos", "Pizza", "Sushi"]
        await page.get_by_role("button", name="Move Sushi up").tap()
        await page.get_by_role("button", name="Move Tacos down").tap()
        assert await ranking(page) == ["Sushi", "Tacos", "Pizza"]
        await page.get_by_role("button", name="Remove Sushi from the ranking").tap()
        assert await ranking(page) == ["Tacos", "Pizza"]
        await expect(page.get_by_test_id("rank-announcer")).to_have_text("Sushi removed from the ranking.")
        # Targets are big enough for a finger and nothing overflows the 390 px screen.
        for button in await page.locator(".ranking button").all():
            box = await button.bounding_box()
            assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.get_by_test_id("vote-submit").tap()
        await expect(page.get_by_test_id("voted")).to_contain_text("1. Tacos, 2. Pizza")
        ballot = call(base, "GET", f"/api/polls/{poll['id']}/results")["questions"][0]
        assert ballot["counts"][ids(poll, "Tacos")[0]] == 1
    finally:
        await ctx.close()


async def rounds_of(page: Page) -> list[dict[str, str]]:
    """Per round, option → state ('in', 'eliminated', 'winner') and count."""
    return list(await page.get_by_test_id("runoff-round").evaluate_all(
        "els => els.map((r) => Object.fromEntries([...r.querySelectorAll('[data-testid=runoff-bar]')]"
        ".map((b) => [b.dataset.option, b.dataset.state + ':' + b.dataset.count])))"))


async def test_runoff_view_follows_ballots_live(client_server: Any, browser: Browser) -> None:
    """Embedded, and through the cluster's nginx (ballots on any backend, the rankings relayed)."""
    base = str(client_server.url).rstrip("/")
    context = await browser.new_context(base_url=base, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        await runoff_follows_ballots(base, context)
    finally:
        await context.close()


async def runoff_follows_ballots(base: str, context: BrowserContext) -> None:
    poll = create(base, {"text": "Chair", "kind": "ranked",
                         "options": [{"label": "Ada"}, {"label": "Grace"}, {"label": "Alan"}]})
    page = await context.new_page()
    await page.goto(f"/p/{poll['id']}")
    present = await context.new_page()
    await present.goto(f"/p/{poll['id']}/present")
    for p in (page, present):
        await expect(p.get_by_test_id("connection").first).to_have_attribute("data-state", "live")
        await expect(p.get_by_test_id("runoff-winner")).to_have_text("No winner yet")
        await expect(p.get_by_test_id("runoff-round")).to_have_count(1)

    # Ada leads the first preferences but without a majority: the count needs a second round.
    cast(base, poll, "Ada", "Grace")
    await expect(page.get_by_test_id("runoff-winner")).to_contain_text("Ada in the first round")
    cast(base, poll, "Ada", "Alan")
    cast(base, poll, "Grace", "Ada")
    cast(base, poll, "Grace", "Ada")
    cast(base, poll, "Alan", "Grace")
    for p in (page, present):
        await expect(p.get_by_test_id("total-count")).to_have_text("5")
        await expect(p.get_by_test_id("runoff-round")).to_have_count(2)
        await expect(p.get_by_test_id("runoff-winner")).to_have_text("Winner: Grace after 2 rounds")
        assert await rounds_of(p) == [
            {"Ada": "in:2", "Grace": "in:2", "Alan": "eliminated:1"},
            {"Ada": "in:2", "Grace": "winner:3"},
        ]
        # Struck through: the eliminated option's label is in an <s>.
        eliminated = p.locator("[data-testid=runoff-bar][data-state=eliminated]")
        await expect(eliminated.locator("s")).to_have_text("Alan")
        await expect(p.locator("[data-state=winner]")).to_contain_text("winner")

    # Two more first preferences for Ada: a majority in the first round, one round left.
    cast(base, poll, "Ada")
    cast(base, poll, "Ada")
    await expect(page.get_by_test_id("runoff-round")).to_have_count(1)
    await expect(page.get_by_test_id("runoff-winner")).to_have_text("Winner: Ada in the first round")
    assert await rounds_of(page) == [{"Ada": "winner:4", "Grace": "in:2", "Alan": "in:1"}]
    # The live region speaks the count, round by round.
    await expect(page.get_by_test_id("announcer")).to_contain_text("Round 1: Ada 4, Grace 2, Alan 1. Winner: Ada.")


async def test_scale_voted_with_its_mean_and_median(base: str, context: BrowserContext) -> None:
    poll = create(base, {"text": "How was the talk?", "kind": "scale", "scale_min": 1, "scale_max": 5,
                         "min_label": "Dull", "max_label": "Brilliant"})
    assert [o["label"] for o in poll["questions"][0]["options"]] == ["1", "2", "3", "4", "5"]
    cast(base, poll, "2")
    cast(base, poll, "4")
    page = await context.new_page()
    await page.goto(f"/p/{poll['id']}")
    form = page.get_by_test_id("ballot-form")
    await expect(form.get_by_text("Choose one point from 1 to 5.")).to_be_visible()
    await expect(form.get_by_text("Brilliant", exact=True)).to_be_visible()
    await expect(page.get_by_test_id("scale-mean")).to_have_text("3")
    # The end labels name the end points for screen readers.
    await form.get_by_label("5 (Brilliant)").check()
    await page.get_by_test_id("vote-submit").click()
    await expect(page.get_by_test_id("voted")).to_contain_text("5")
    await expect(page.get_by_test_id("total-count")).to_have_text("3")
    await expect(page.get_by_test_id("scale-mean")).to_have_text("3.7")  # (2 + 4 + 5) / 3
    await expect(page.get_by_test_id("scale-median")).to_have_text("4")
    counts = await page.get_by_test_id("scale-bar").evaluate_all(
        "els => els.map((e) => e.dataset.point + ':' + e.dataset.count)")
    assert counts == ["1:0", "2:1", "3:0", "4:1", "5:1"]
    results = call(base, "GET", f"/api/polls/{poll['id']}/results")["questions"][0]
    assert round(results["mean"], 2) == 3.67 and results["median"] == 4
    # The presenter's slide shows the distribution and the mean too.
    await page.goto(f"/p/{poll['id']}/present")
    await expect(page.get_by_test_id("scale-bar")).to_have_count(5)
    await expect(page.get_by_test_id("scale-mean")).to_have_text("3.7")
    await expect(page.get_by_test_id("scale-mean-mark")).to_be_visible()


async def test_create_form_makes_ranked_and_scale_questions(base: str, context: BrowserContext) -> None:
    page = await context.new_page()
    await page.goto("/")
    await page.get_by_label("Title").fill("Kinds from the form")
    await page.get_by_label("Question 1 text").fill("Order these")
    await page.get_by_label("Ranking (instant runoff)").check()
    await page.get_by_label("Option 1 of question 1", exact=True).fill("Red")
    await page.get_by_label("Option 2 of question 1", exact=True).fill("Blue")
    await page.get_by_label("Rank at most").fill("2")
    await page.get_by_role("button", name="+ Add question").click()
    await page.get_by_label("Question 2 text").fill("Rate it")
    editors = page.get_by_test_id("question-editor")
    second = editors.nth(1)
    await second.get_by_label("Rating scale").check()
    # A scale has no options to write: the server makes one per point.
    await expect(second.get_by_label("Option 1 of question 2", exact=True)).to_have_count(0)
    await second.get_by_label("Lowest point", exact=True).fill("0")
    await second.get_by_label("Highest point", exact=True).fill("11")
    await page.get_by_test_id("create-submit").click()
    await expect(second.get_by_text("The scale runs within 0 to 10")).to_be_visible()
    await second.get_by_label("Highest point", exact=True).fill("10")
    await second.get_by_label("Label of the lowest point (optional)").fill("Not at all")
    await second.get_by_label("Label of the highest point (optional)").fill("Completely")
    await page.get_by_test_id("create-submit").click()
    await expect(page.get_by_role("heading", name="Your poll is ready")).to_be_visible()
    poll_id = "".join((await page.get_by_test_id("join-code").first.inner_text()).split())
    poll = call(base, "GET", f"/api/polls/{poll_id}")["poll"]
    ranked, scale = poll["questions"]
    assert (ranked["kind"], ranked["min_choices"], ranked["max_choices"]) == ("ranked", 1, 2)
    assert [o["label"] for o in ranked["options"]] == ["Red", "Blue"]
    assert (scale["kind"], scale["scale_min"], scale["scale_max"]) == ("scale", 0, 10)
    assert (scale["min_label"], scale["max_label"]) == ("Not at all", "Completely")
    assert len(scale["options"]) == 11
