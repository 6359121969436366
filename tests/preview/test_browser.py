"""The pages in headless Chromium, as a person sees them: text, colours, no sideways scrolling, retry.

Playwright drives Debian's Chromium (`executable_path`); it downloads no browser. Outside CI these
tests skip when Chromium or the `browser` extra is missing; with CI set they fail instead.
Screenshots land in var/screenshots/ for people to look at.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.summary import Summary
from tests.preview.conftest import DEAD_REASON, ROOT, TOKEN, Served, serve

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
HEADLINE = "Taiwan and US Deepen Strategic Tech Partnership in High-Level Dialogue"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A story built to push a page sideways: a long unbroken word and a long URL in every place.
WIDE = Summary.model_validate(
    {
        "id": "wide-words",
        "headline": "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
        "lede": "See https://example.com/" + "a-very-long-path-segment/" * 12 + "?q=" + "x" * 80,
        "published": "2026-11-20T10:00:00+00:00",
        "source": {"name": "Wide", "url": "https://example.com/" + "w" * 200},
        "topics": [{"title": "Drones " + "D" * 120, "text": "Drones. " + "Z" * 300, "tags": ["drones"]}],
    }
)


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[browser]', or .ci/install-browser)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium, or .ci/install-browser)"
    return None


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    """Yield a fresh Chromium page, or skip (no CI) / fail (CI) when the browser is missing."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            yield await context.new_page()
        finally:
            await browser.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async for s in serve(tmp_path, extra=[WIDE]):
        yield s


async def _shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def test_a_person_sees_the_headline_and_the_embed_colour_bar(page: Any, served: Served) -> None:
    await page.goto(served.base + "/preview")
    for pane in (".discord", ".slack"):
        await page.locator(pane).get_by_text(HEADLINE).first.wait_for(state="visible")
    bar = await page.locator(".dc-embed").first.evaluate(
        "e => { const s = getComputedStyle(e); return [s.borderLeftColor, s.borderLeftWidth]; }"
    )
    assert bar == ["rgb(88, 101, 242)", "4px"]  # Discord's blurple, from the body's "color"
    slack_header = page.locator(".sl-header").first
    assert await slack_header.is_visible()
    await _shoot(page, "preview-1280")


@pytest.mark.parametrize("width", list(WIDTHS))
async def test_no_page_scrolls_sideways(page: Any, served: Served, width: str) -> None:
    w, h = WIDTHS[width]
    await page.set_viewport_size({"width": w, "height": h})
    for name, path in (("preview", "/preview"), ("topic", "/preview?topic=drones"), ("status", "/status")):
        await page.goto(served.base + path)
        scroll, inner = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{path} at {w}px is {scroll}px wide"
        await _shoot(page, f"{name}-{w}")


async def test_the_dead_delivery_is_explained_and_retry_needs_the_token(page: Any, served: Served) -> None:
    await page.goto(served.base + "/status")
    row = page.locator(f"#delivery-{served.dead_id}")
    await row.get_by_text(DEAD_REASON).wait_for(state="visible")
    assert await row.locator(".badge").inner_text() == "dead"

    async with page.expect_response(lambda r: "/retry" in r.url) as refused:
        await row.get_by_role("button", name="Retry").click()
    assert (await refused.value).status == 401
    await page.get_by_text("Not allowed").wait_for(state="visible")

    await page.goto(served.base + "/status")
    await page.get_by_label("API token").fill(TOKEN)
    await page.locator(f"#delivery-{served.dead_id}").get_by_role("button", name="Retry").click()
    await page.get_by_text(f"Delivery {served.dead_id} is queued again").wait_for(state="visible")
    assert await page.locator(f"#delivery-{served.dead_id} .badge").inner_text() == "pending"
    await _shoot(page, "status-after-retry-1280")
