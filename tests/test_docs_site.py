"""The documentation site and the README that leads to it.

``python -m mkdocs build --strict`` builds ``docs/`` into a temporary folder and must pass: a link
to a missing page or anchor, or a page left out of ``mkdocs.yml``'s nav, fails it (mkdocs.yml's
``validation`` turns each into a warning, and ``--strict`` fails on any warning). The built site
then opens from file:// in the real browser the dashboard tests use (Debian's Chromium, driven by
Playwright; never ``playwright install``): no console error, no page error, no request but file:,
data: or blob: (every other one is aborted and recorded), the navigation holds every page of the
nav, and a click in it leads to the page it names.

Beside the build: every repository path the pages and the README write as code (`reports/...`,
`benchmarks/...`) exists, since MkDocs cannot check links outside docs/; every relative link of
the README (to docs/*.md and their headings, to the dashboard's picture) resolves; the README
keeps the two commands at its top that CI and the checklist read. Under CI (``CI=true``) a
missing MkDocs, browser or Playwright fails; elsewhere it skips.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from browser import LOCAL_SCHEMES, missing_browser, open_page

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

#: the README's first commands, exactly: .ci/run and the release checklist read them
COMMANDS = (
    "tox -e bench      # run the benchmark suite: every Keras backend x device, report in reports/",
    "tox               # run the tests (TensorFlow, JAX and PyTorch, each in its own process)",
)
#: paths the suite writes that are never committed (.gitignore), named in the pages as outputs
GENERATED = {"reports/index.md", "reports/dashboard.html", "reports/.index.lock", "reports/train"}
#: a code span that is a repository path: a top-level folder of the repository, then no spaces
REPO_PATH = re.compile(r"`((?:reports|mnist_mlp|benchmarks|tests|notebooks|docs|\.ci)/[^`\s]*)`")
PLACEHOLDER = re.compile(r"[<>*{}|]|\.\.\.")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"CI: the documentation site must be checked: {reason}")
    pytest.skip(reason)


def _nav() -> list[tuple[str, str]]:
    """(title, docs-relative path) of every page in mkdocs.yml's nav, in order."""
    yaml = pytest.importorskip("yaml")  # PyYAML comes with MkDocs
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages: list[tuple[str, str]] = []

    def walk(items: list) -> None:
        for item in items:
            ((title, value),) = item.items()
            walk(value) if isinstance(value, list) else pages.append((title, value))

    walk(config["nav"])
    return pages


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built by ``mkdocs build --strict`` into a temporary folder (fails the test on any warning)."""
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
    except ImportError:
        _missing("MkDocs or its Material theme is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # Material's notice about its successor, not ours
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-4000:]}"
    return out


def test_the_site_builds_with_strict(site):
    for _, page in _nav():
        assert (site / page).with_suffix(".html").is_file(), f"{page} was not built"


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    listed = [page for _, page in _nav()]
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(set(listed)) == on_disk, f"in the nav only: {sorted(set(listed) - set(on_disk))}; on disk only: {sorted(set(on_disk) - set(listed))}"
    assert len(listed) == len(set(listed)), "a page is twice in the nav"


def _browser_or_skip() -> None:
    reason = missing_browser()
    if reason:
        _missing(reason)


def test_the_built_site_opens_in_chromium_with_nothing_fetched(site):
    _browser_or_skip()
    nav = _nav()
    titles = {title for title, _ in nav}
    headings: dict[str, str] = {}
    with open_page(site / "index.html", width=1280, height=800) as (page, seen):
        for _, path in [nav[0], ("", "timing.md"), ("", "commands/bench.md")]:
            page.goto((site / path).with_suffix(".html").resolve().as_uri(), wait_until="load")
            headings[path] = (page.locator("article h1").first.text_content() or "").strip()
            nav_text = page.locator("nav.md-nav--primary").first.text_content() or ""
            absent = sorted(title for title in titles if title not in nav_text)
            assert not absent, f"{path}: the navigation lacks {absent}"
        # a click in the navigation leads to the page it names
        page.goto((site / "index.html").resolve().as_uri(), wait_until="load")
        page.locator("nav.md-nav--primary a.md-nav__link", has_text="What is timed and how").first.click()
        page.wait_for_url("**/timing.html")
        assert (page.locator("article h1").first.text_content() or "").strip().startswith("What is timed and how")
    assert headings["index.md"].startswith("mnist-mlp"), headings
    assert headings["commands/bench.md"].startswith("bench"), headings
    assert not seen.console_errors, seen.console_errors
    assert not seen.page_errors, seen.page_errors
    assert not seen.blocked, f"the site tried the network: {seen.blocked}"
    assert seen.requests and all(url.startswith(LOCAL_SCHEMES) for url in seen.requests)


def _texts() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("text", _texts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_written_in_the_pages_exists(text):
    """MkDocs checks links between pages; a path to a run, a script or a module, written as code, it cannot."""
    source = text.read_text(encoding="utf-8")
    named = {m.rstrip("/.,:;") for m in REPO_PATH.findall(source) if not PLACEHOLDER.search(m)}
    missing = sorted(p for p in named if p not in GENERATED and not (ROOT / p).exists())
    assert not missing, f"{text.relative_to(ROOT)} names paths that do not exist: {missing}"


def _slug(heading: str) -> str:
    from markdown.extensions.toc import slugify  # MkDocs' own heading ids

    return slugify(re.sub(r"[`*]", "", heading), "-")


def test_the_readme_links_resolve():
    source = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", source)
    assert any(link.startswith("docs/") for link in links), "the README links into the documentation"
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = ROOT / target
        assert path.exists(), f"README links to {target}, which does not exist"
        if anchor:
            headings = re.findall(r"^#{1,6} (.+?)\s*$", path.read_text(encoding="utf-8"), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, f"README links to {link}: no such heading"


def test_the_readme_leads_with_the_two_commands_and_stays_a_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    first_block = lines.index("```sh")
    assert lines[first_block + 1:first_block + 3] == list(COMMANDS)
    assert first_block < 20, "the two commands come first"
    assert len(lines) <= 200, f"README.md is {len(lines)} lines: a front page, the rest belongs in docs/"
    assert "reports/dashboard.png" in "\n".join(lines)
