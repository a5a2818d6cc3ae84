"""Keyboard-only voting, visible focus and the live region, in real chromium."""
from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest
from playwright.async_api import Browser, expect

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000


def create_poll(base: str) -> str:
    body = json.dumps({"title": "Keyboard", "questions": [
        {"text": "Pick", "options": [{"label": "Alpha"}, {"label": "Beta"}, {"label": "Gamma"}]}]})
    req = urllib.request.Request(base + "/api/polls", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.load(r)["poll"]["id"])


async def test_vote_with_the_keyboard_only(embedded_server: Any, browser: Browser) -> None:
    base = str(embedded_server.url).rstrip("/")
    poll_id = create_poll(base)
    context = await browser.new_context(base_url=base, viewport={"width": 360, "height": 740})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        await page.goto(f"/p/{poll_id}")
        await expect(page.get_by_test_id("ballot-form")).to_be_visible()
        # Tab until a radio button of the ballot has the focus (bounded).
        for _ in range(30):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement?.type === 'radio'"):
                break
        else:
            raise AssertionError("Tab never reached the ballot's options")
        outline = await page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, s.outlineWidth, s.boxShadow]; })()")
        assert outline[0] != "none" or outline[2] != "none", f"no visible focus: {outline}"
        await page.keyboard.press("ArrowDown")  # moves to and selects the next option
        assert await page.evaluate("document.activeElement.checked") is True
        label = await page.evaluate(
            "document.activeElement.labels?.[0]?.innerText || document.activeElement.value")
        # Tab on to the submit button and press Enter.
        for _ in range(10):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement?.dataset?.testid === 'vote-submit'"):
                break
        else:
            raise AssertionError("Tab never reached the submit button")
        await page.keyboard.press("Enter")
        voted = page.get_by_test_id("voted")
        await expect(voted.get_by_role("heading", name=re.compile("Your vote counted"))).to_be_visible()
        await expect(voted).to_contain_text(label.strip())
        # Tally changes are announced politely to screen readers.
        assert await page.locator("[aria-live='polite']").count() >= 1
    finally:
        await context.close()
