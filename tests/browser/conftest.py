"""Fixtures of the browser tier: `site` (the app on a real port), `browser` (Chromium, launched by
Playwright in the test's event loop), `browsing` (a fresh, watched context on the site, signed
out) and `as_admin` (the same, signed in as the site's admin); what the watch saw fails the test,
and the run ends by listing every screenshot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.support.browser import (
    CHROMIUM,
    DESKTOP,
    LAUNCH_ARGS,
    SHOTS,
    TIMEOUT_MS,
    Browsing,
    Site,
    Watch,
    file_name_of,
    running_site,
)
from voicepipe.resources import Resources
from voicepipe.settings import Settings

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    pytestconfig.stash.setdefault(SHOTS, [])
    return tmp_path_factory.mktemp("screenshots", numbered=False)


@pytest.fixture
async def site(settings: Settings, resources: Resources) -> AsyncIterator[Site]:
    async with running_site(settings, resources) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """One Chromium per test: launching takes a fraction of a second, and a browser per test
    lives in the test's own event loop (pytest-asyncio's loop scope is the function)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required on CI (apt-get install chromium)")
        pytest.skip(
            f"{CHROMIUM} is not installed (scripts/setup --test, or apt-get install chromium)"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def browsing(
    site: Site,
    browser: Browser,
    screenshots: Path,
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
) -> AsyncIterator[Browsing]:
    context = await browser.new_context(base_url=site.url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    watch = Watch()
    watch.attach(context)
    yield Browsing(
        site,
        context,
        watch,
        screenshots,
        file_name_of(request.node.name),
        pytestconfig.stash[SHOTS],
    )
    await context.close()
    late = watch.unreported()  # seen after the test's body ended (the call phase checked the rest)
    if late:
        pytest.fail("the browser saw, at the end of the test:\n" + "\n".join(late))


@pytest.fixture
async def as_admin(browsing: Browsing, site: Site) -> Browsing:
    await browsing.sign_in_as(site.admin)
    return browsing


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Fail a test whose pages showed a problem it did not expect (see tests/support/browser.py)."""
    funcargs = getattr(item, "funcargs", {})
    watches = {id(v.watch): v.watch for v in funcargs.values() if isinstance(v, Browsing)}
    try:
        result = yield
    except BaseException:
        problems = [p for w in watches.values() for p in w.unreported()]
        if problems:
            item.add_report_section("call", "browser problems", "\n".join(problems))
        raise
    problems = [p for w in watches.values() for p in w.unreported()]
    if problems:
        pytest.fail("the browser saw:\n" + "\n".join(problems), pytrace=False)
    return result


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    shots = config.stash.get(SHOTS, [])
    if shots:
        terminalreporter.section(f"browser screenshots ({len(shots)})")
        for path in shots:
            terminalreporter.write_line(str(path))
