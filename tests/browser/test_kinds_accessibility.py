"""Accessibility audit (axe-core, WCAG 2.0/2.1 A and AA) of the ranked and scale question kinds:
a ranked ballot part-way through ranking, a scale ballot with a point chosen, the runoff results
(an elimination and a winner) and the scale's distribution, on the vote page and the presenter's
slide, at a phone (360x740) and a projector (1920x1080) viewport.  The other pages are audited
in test_accessibility.py; the create form with both kinds' settings is audited here too."""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.client import call

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)

AXE_JS = Path(__file__).resolve().parents[2] / "client" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORTS: dict[str, ViewportSize] = {
    "360x740": {"width": 360, "height": 740},
    "1920x1080": {"width": 1920, "height": 1080},
}
AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary})),
  }));
}"""



def create(base: str, question: dict[str, Any]) -> dict[str, Any]:
    return dict(call(base, "POST", "/api/polls", {"title": "Accessibility: kinds", "questions": [question]})["poll"])


def cast(base: str, poll: dict[str, Any], *labels: str) -> None:
    by_label = {o["label"]: o["id"] for o in poll["questions"][0]["options"]}
    voter = call(base, "POST", "/api/voters", {})["voter_token"]
    call(base, "POST", f"/api/polls/{poll['id']}/ballots",
         {"choices": {poll["questions"][0]["id"]: [by_label[label] for label in labels]}},
         {"X-Voter-Token": str(voter)})


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"]:
            summary = " ".join(str(node.get("summary") or "").split())
            lines.append(f"    {json.dumps(node['target'])}: {summary[:300]}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def polls(embedded_server: Any) -> dict[str, Any]:
    base = str(embedded_server.url).rstrip("/")
    ranked = create(base, {"text": "Who chairs the meeting?", "kind": "ranked", "max_choices": 3,
                           "options": [{"label": "Ada"}, {"label": "Grace"}, {"label": "Alan"}, {"label": "Edsger"}]})
    for ballot in (("Ada", "Grace"), ("Ada",), ("Grace", "Ada"), ("Grace", "Alan"), ("Alan", "Grace"), ("Edsger",)):
        cast(base, ranked, *ballot)
    scale = create(base, {"text": "How useful was it?", "kind": "scale", "scale_min": 0, "scale_max": 10,
                          "min_label": "Not at all", "max_label": "Extremely"})
    for point in ("3", "7", "7", "9", "10"):
        cast(base, scale, point)
    return {"base": base, "ranked": ranked, "scale": scale}


async def live(page: Page) -> None:
    for conn in await page.get_by_test_id("connection").all():
        await expect(conn).to_have_attribute("data-state", "live")


async def ranked_ballot(page: Page, polls: dict[str, Any]) -> None:
    """A ranked ballot part-way: two options ranked (with ↑/↓/✕), two still to rank."""
    await page.goto(f"/p/{polls['ranked']['id']}")
    await page.locator("[data-testid=rank-add][data-option=Grace]").click()
    await page.locator("[data-testid=rank-add][data-option=Ada]").click()
    await expect(page.get_by_test_id("rank-item")).to_have_count(2)
    await expect(page.get_by_test_id("rank-announcer")).to_have_text("Ada ranked 2nd.")


async def ranked_results(page: Page, polls: dict[str, Any]) -> None:
    """The runoff, round by round: eliminations struck, the winner marked."""
    await page.goto(f"/p/{polls['ranked']['id']}")
    await live(page)
    await expect(page.get_by_test_id("runoff-winner")).to_contain_text("Winner:")
    await expect(page.locator("[data-testid=runoff-bar][data-state=eliminated]").first).to_be_visible()


async def ranked_present(page: Page, polls: dict[str, Any]) -> None:
    await page.goto(f"/p/{polls['ranked']['id']}/present")
    await live(page)
    await expect(page.get_by_test_id("runoff-winner")).to_contain_text("Winner:")


async def scale_ballot(page: Page, polls: dict[str, Any]) -> None:
    """A scale ballot (0–10 with end labels) with a point chosen; its results beside it."""
    await page.goto(f"/p/{polls['scale']['id']}")
    await page.get_by_label("7", exact=True).check()
    await expect(page.get_by_label("7", exact=True)).to_be_checked()
    await live(page)
    await expect(page.get_by_test_id("scale-mean")).to_have_text("7.2")


async def scale_present(page: Page, polls: dict[str, Any]) -> None:
    await page.goto(f"/p/{polls['scale']['id']}/present")
    await live(page)
    await expect(page.get_by_test_id("scale-median")).to_have_text("7")


async def create_form(page: Page, polls: dict[str, Any]) -> None:
    """The create form with a ranked question (rank limits) and a scale question (range and end
    labels) whose range is wrong."""
    await page.goto("/")
    await page.get_by_label("Ranking (instant runoff)").check()
    await expect(page.get_by_label("Rank at most")).to_be_visible()
    await page.get_by_role("button", name="+ Add question").click()
    second = page.get_by_test_id("question-editor").nth(1)
    await second.get_by_label("Rating scale").check()
    await second.get_by_label("Highest point", exact=True).fill("12")
    await page.get_by_test_id("create-submit").click()
    await expect(second.get_by_text("The scale runs within 0 to 10")).to_be_visible()


PAGES: dict[str, Callable[[Page, dict[str, Any]], Awaitable[None]]] = {
    "create-form": create_form,
    "ranked-ballot": ranked_ballot,
    "ranked-results": ranked_results,
    "ranked-present": ranked_present,
    "scale-ballot": scale_ballot,
    "scale-present": scale_present,
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", list(PAGES))
async def test_kind_pages_have_no_axe_violations(browser: Browser, polls: dict[str, Any], name: str,
                                                 viewport: str) -> None:
    context = await browser.new_context(base_url=polls["base"], viewport=VIEWPORTS[viewport])
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        await PAGES[name](page, polls)
        await page.add_script_tag(path=str(AXE_JS))
        violations: list[dict[str, Any]] = await page.evaluate(AXE_RUN, WCAG_TAGS)
        assert violations == [], f"{name} at {viewport}:\n{describe(violations)}"
    finally:
        await context.close()
