"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright, for the dashboard's tests.

Never ``playwright install``: it downloads browsers, which cannot work offline; the test uses the
system's browser (``CHROMIUM`` or ``/usr/bin/chromium``). ``open_page`` records every console
error, page error and request, and aborts any request that is not file:, data: or blob:, so a
page that tries the network fails its test instead of waiting on it.

Also a script, for the README's screenshot of the committed runs::

    mnist-mlp dashboard && python tests/browser.py reports/dashboard.html reports/dashboard.png
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("file:", "data:", "blob:")
#: a hang guard only (a page whose charts never draw fails instead of waiting forever), not a speed limit
HANG_GUARD_MS = 120_000


def chromium_path() -> str | None:
    """The system Chromium, or None: ``$CHROMIUM``, then /usr/bin/chromium, then ``chromium`` on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Recorded:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (None: they can): Playwright or Debian's Chromium absent."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (pip install -e '.[test]')")
    if chromium_path() is None:
        missing.append("no Chromium at /usr/bin/chromium (apt-get install -y chromium; .ci/run does)")
    return "; ".join(missing) or None


@contextmanager
def open_page(html: Path, width: int = 1400, height: int = 1000) -> Iterator[tuple[object, Recorded]]:
    """(playwright page, what it recorded) for ``html`` loaded from file:// and settled."""
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium: apt-get install -y chromium (or set CHROMIUM)")
    seen = Recorded()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
            page = context.new_page()

            def route(route_obj):
                url = route_obj.request.url
                seen.requests.append(url)
                if url.startswith(LOCAL_SCHEMES):
                    route_obj.continue_()
                else:
                    seen.blocked.append(url)
                    route_obj.abort()

            context.route("**/*", route)
            page.on("console", lambda msg: seen.console_errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: seen.page_errors.append(str(exc)))
            page.goto(Path(html).resolve().as_uri(), wait_until="load")
            # polled from Python: the page's Content-Security-Policy forbids the eval a page-side wait needs
            expect(page.locator("div.chart[data-drawn=true]")).to_have_count(page.locator("div.chart").count(), timeout=HANG_GUARD_MS)
            yield page, seen
        finally:
            browser.close()


def screenshot(html: Path, png: Path, width: int = 1400, colours: int | None = None) -> Path:
    """A full-page screenshot of ``html`` into ``png`` (``colours``: a palette of that many, smaller)."""
    with open_page(html, width=width) as (page, _):
        page.screenshot(path=str(png), full_page=True)
    if colours:
        from PIL import Image

        Image.open(png).convert("RGB").quantize(colours).save(png, optimize=True)
    return png


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/browser.py PAGE.html OUT.png")
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2]), width=1800, colours=128))
