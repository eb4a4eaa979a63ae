"""The system Chromium, driven by Playwright, for the dashboard's browser tests.

Only Debian's ``chromium`` is used (``.ci/run`` installs it when missing):
Playwright's own browser download is never needed. Each page records as a
problem every console error, uncaught exception, dialog (``alert``) and
request that leaves the page's own file, so a test can assert there were none.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    Route,
    expect,
    sync_playwright,
)

#: The browser executable looked for on PATH.
CHROMIUM = "chromium"
#: What this machine's Chromium needs to run headless as root, with no network of its own.
LAUNCH_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Milliseconds Playwright waits for a page or an element.
TIMEOUT_MS = 60_000


def chromium_path() -> str | None:
    """The system Chromium, if installed."""
    return shutil.which(CHROMIUM)


@contextmanager
def system_chromium(executable: str) -> Iterator[Browser]:
    """A headless ``executable`` under Playwright; closed on exit."""
    # A busy machine draws the page's charts slower than Playwright's 5 s default.
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=list(LAUNCH_ARGS), timeout=TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class WatchedPage:
    """A page and everything it did wrong.

    Attributes:
        page: The Playwright page.
        problems: Console errors, page errors, dialogs and outside requests, as text.
    """

    page: Page
    problems: list[str] = field(default_factory=list)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _dialog(self, dialog: Dialog) -> None:
        self.problems.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _route(self, route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.problems.append(f"request: {route.request.url}")
            route.abort()


@contextmanager
def watched_page(browser: Browser, width: int = 1280, height: int = 900) -> Iterator[WatchedPage]:
    """A new page of ``browser`` whose problems are recorded; closed on exit."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = WatchedPage(page)
    page.on("console", watched._console)
    page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    page.on("dialog", watched._dialog)
    page.route("**/*", watched._route)
    try:
        yield watched
    finally:
        context.close()
