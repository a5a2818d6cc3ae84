"""End-to-end flow of the web client in real chromium.

An organizer creates a poll through the UI, two participants vote from two other browser
contexts, the organizer's page shows both votes live (no reload), the organizer closes the
poll and the participants' pages show it closed.  Screenshots of the vote page and the
presenter view go to test-artifacts/.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000  # every wait has a deadline; nothing sleeps blindly
expect.set_options(timeout=TIMEOUT_MS)


def watch_errors(page: Page, errors: list[str]) -> None:
    """Collect uncaught page errors; the test fails if any happened."""
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))


async def new_context(browser: Browser, base_url: str, **kwargs: Any) -> BrowserContext:
    context = await browser.new_context(base_url=base_url, **kwargs)
    context.set_default_timeout(TIMEOUT_MS)
    return context


async def create_poll(page: Page) -> str:
    """Fill the create form on / and return the new poll's id (the join code)."""
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Create a poll")).to_be_visible()

    # Submitting empty shows inline validation, and nothing is created.
    await page.get_by_test_id("create-submit").click()
    await expect(page.get_by_test_id("form-errors")).to_be_visible()
    await expect(page.get_by_text("Give the poll a title.")).to_be_visible()

    await page.get_by_label("Title").fill("Team lunch")
    await page.get_by_label("Description (optional)").fill("Pick a place for Friday.")
    await page.get_by_label("Question 1 text").fill("Where do we eat?")
    await page.get_by_label("Option 1 of question 1", exact=True).fill("Pizza")
    await page.get_by_label("Option 2 of question 1", exact=True).fill("Sushi")
    await page.get_by_role("button", name="+ Add option").click()
    await page.get_by_label("Option 3 of question 1", exact=True).fill("Tacos")
    await expect(page.get_by_test_id("form-errors")).to_have_count(0)
    await page.get_by_test_id("create-submit").click()

    await expect(page.get_by_role("heading", name="Your poll is ready")).to_be_visible()
    poll_id = (await page.get_by_test_id("join-code").first.inner_text()).strip()
    assert re.fullmatch(r"[a-z0-9]{8}", poll_id), poll_id
    share = page.get_by_test_id("share-link")
    await expect(share).to_have_attribute("href", re.compile(rf"^https?://[^/]+/p/{poll_id}$"))
    await expect(page.get_by_test_id("qr").first.locator("svg")).to_be_visible()
    # The admin token was kept in this browser, keyed by the poll id.
    stored = await page.evaluate("id => localStorage.getItem('voting.admin.' + id)", poll_id)
    assert stored and '"token"' in stored
    return poll_id


async def vote(page: Page, poll_id: str, choice: str) -> None:
    await page.goto(f"/p/{poll_id}")
    await expect(page.get_by_test_id("poll-title")).to_have_text("Team lunch")
    form = page.get_by_test_id("ballot-form")
    await expect(form).to_be_visible()
    # Submitting with nothing chosen is caught in the page.
    await page.get_by_test_id("vote-submit").click()
    await expect(form.get_by_text("Choose one option.")).to_be_visible()
    await page.get_by_label(choice, exact=True).check()
    await page.get_by_test_id("vote-submit").click()
    voted = page.get_by_test_id("voted")
    await expect(voted.get_by_role("heading", name=re.compile("Your vote counted"))).to_be_visible()
    await expect(voted.get_by_test_id("receipt")).not_to_be_empty()
    await expect(voted).to_contain_text(choice)
    assert "token" not in page.url


def bar(page: Page, option: str) -> Any:
    return page.locator(f'[data-testid="bar"][data-option="{option}"]')


async def test_create_vote_live_results_close(
    client_server: Any, browser: Browser, artifacts_dir: Path
) -> None:
    base_url = str(client_server.url).rstrip("/")
    label = "cluster" if hasattr(client_server, "backend_names") else "embedded"
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    try:
        organizer = await new_context(browser, base_url, viewport={"width": 1280, "height": 900})
        contexts.append(organizer)
        org_page = await organizer.new_page()
        watch_errors(org_page, errors)
        poll_id = await create_poll(org_page)

        # Organizer controls: the token travels in the fragment, then leaves the address bar.
        await org_page.get_by_test_id("open-admin").click()
        await expect(org_page.get_by_text("Organizer controls").first).to_be_visible()
        await expect(org_page).to_have_url(f"{base_url}/p/{poll_id}/admin")
        await expect(org_page.get_by_test_id("connection").first).to_have_attribute("data-state", "live")
        await expect(org_page.get_by_test_id("total-count")).to_have_text("0")

        # Two participants, each in its own browser context (own cookies and storage);
        # the first on a 360 px wide phone.
        phone = await new_context(
            browser, base_url, viewport={"width": 360, "height": 780}, device_scale_factor=2,
            is_mobile=True, has_touch=True,
        )
        laptop = await new_context(browser, base_url, viewport={"width": 1024, "height": 800})
        contexts += [phone, laptop]
        p1 = await phone.new_page()
        p2 = await laptop.new_page()
        watch_errors(p1, errors)
        watch_errors(p2, errors)

        await vote(p1, poll_id, "Pizza")
        await vote(p2, poll_id, "Sushi")

        # The organizer's page saw both ballots arrive over the WebSocket, without a reload.
        await expect(org_page.get_by_test_id("total-count")).to_have_text("2")
        await expect(bar(org_page, "Pizza")).to_have_attribute("data-count", "1")
        await expect(bar(org_page, "Sushi")).to_have_attribute("data-count", "1")
        await expect(bar(org_page, "Tacos")).to_have_attribute("data-count", "0")
        await expect(bar(org_page, "Pizza")).to_contain_text("50%")
        # The participants' results moved too.
        await expect(p1.get_by_test_id("total-count")).to_have_text("2")
        await expect(bar(p1, "Sushi")).to_have_attribute("data-count", "1")

        # Reloading a participant's page knows the ballot (GET …/ballot) instead of a new form.
        await p2.reload()
        await expect(p2.get_by_test_id("voted")).to_be_visible()
        await expect(p2.get_by_test_id("ballot-form")).to_have_count(0)

        # Presenter view on a 1920 px projector.
        projector = await new_context(browser, base_url, viewport={"width": 1920, "height": 1080})
        contexts.append(projector)
        present = await projector.new_page()
        watch_errors(present, errors)
        await present.goto(f"/p/{poll_id}/present")
        await expect(present.get_by_test_id("total-count")).to_have_text("2")
        await expect(present.get_by_test_id("join-code")).to_have_text(poll_id)
        await expect(present.get_by_test_id("qr").locator("svg")).to_be_visible()
        await expect(present.get_by_test_id("connection")).to_have_attribute("data-state", "live")

        await expect(p1.get_by_test_id("connection")).to_have_attribute("data-state", "live")
        await p1.screenshot(path=str(artifacts_dir / f"{label}-vote-page.png"), full_page=True)
        await present.screenshot(path=str(artifacts_dir / f"{label}-presenter.png"))

        # The organizer closes the poll; every open page learns it live.
        await org_page.get_by_test_id("close-poll").click()
        await expect(org_page.get_by_test_id("reopen-poll")).to_be_visible()
        for page in (p1, p2, present):
            await expect(page.get_by_test_id("status-pill")).to_have_text(re.compile("closed", re.I))
        await expect(p1.get_by_test_id("closed-banner")).to_be_visible()
        await expect(p2.get_by_test_id("closed-banner")).to_be_visible()
        await p1.screenshot(path=str(artifacts_dir / f"{label}-vote-page-closed.png"), full_page=True)
        await present.screenshot(path=str(artifacts_dir / f"{label}-presenter-closed.png"))

        assert not errors, errors
    finally:
        for context in contexts:
            await context.close()
