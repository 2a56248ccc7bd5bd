"""The pages in a real headless Chromium (Debian's ``chromium``, driven by Playwright) against a
running ``nnparts serve`` with modules published through HubIndex. Screenshots go to bench/results/.

Set-up: ``scripts/install-browser``. Without chromium or playwright these tests skip, saying why.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hub_server import HubServer
from web_registry import publish_all

CHROMIUM = Path("/usr/bin/chromium")
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.network,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run scripts/install-browser"),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="playwright is not installed: run scripts/install-browser",
    ),
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """``nnparts serve`` in a subprocess with the standard modules published; (endpoint, manifests)."""
    root = tmp_path_factory.mktemp("browser")
    server = HubServer(root / "server")
    try:
        with pytest.MonkeyPatch.context() as mp:
            import huggingface_hub.constants as constants

            mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
            mp.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
            mp.setenv("NNPARTS_HOME", str(root / "home"))
            mp.setenv("HF_HOME", str(root / "hf"))
            mp.setenv("HF_TOKEN", "")
            manifests = publish_all(server.endpoint, root / "packages")
        yield server.endpoint, manifests
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page(site: tuple[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            yield context.new_page()
            context.close()
        finally:
            browser.close()


def test_search_then_open_a_module(site: tuple[str, dict[str, dict[str, Any]]], page: Any) -> None:
    endpoint, manifests = site
    doc = manifests["toy/cat@1.0.0"]
    page.goto(endpoint + "/")
    assert page.inner_text("#count-modules") == "4"  # five publishes, one yanked
    page.fill("main input[name=q]", "kitty")  # an alias
    page.press("main input[name=q]", "Enter")
    page.wait_for_url("**/search?q=kitty")
    rows = page.locator("table.modules tbody tr")
    assert rows.count() == 1
    assert rows.first.locator(".classes").inner_text() == "cat"
    assert rows.first.locator(".accuracy").inner_text() == "93.0%"
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / "web-search.png"), full_page=True)

    rows.first.locator("a.module-link").click()
    page.wait_for_selector("#module-id")
    assert page.inner_text("#module-id") == doc["id"]
    assert page.inner_text("#module-version") == doc["version"]
    shown_classes = page.locator("#classes a.class").all_inner_texts()
    assert shown_classes == [c["name"] for c in doc["classes"]]
    assert page.inner_text("#density") == f"{doc['mask']['density']:g}"
    assert page.inner_text("#metric-accuracy") == f"{100 * doc['metrics']['overall']['accuracy']:.1f}%"
    shown = dict(
        zip(
            page.locator("#files tbody td:first-child").all_inner_texts(),
            page.locator("#files code.sha256").all_inner_texts(),
            strict=True,
        )
    )
    assert shown == {f["path"]: f["sha256"] for f in doc["files"]}
    assert page.locator("#per-class-chart rect.bar").count() == 2
    assert f"--registry {endpoint}" in page.inner_text("#install-cmd")
    assert "yanked" in page.inner_text("#versions")
    # the stylesheet was loaded from the server itself (no CDN): the install box is dark
    background = page.eval_on_selector("pre.cmd", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(29, 35, 43)"
    page.screenshot(path=str(RESULTS / "web-module.png"), full_page=True)
    assert (RESULTS / "web-module.png").stat().st_size > 10_000

    page.click("#origin-link")
    page.wait_for_selector("#matrix")
    assert page.inner_text("#origin-name") == doc["origin"]["name"]


def test_bad_queries_in_the_browser(site: tuple[str, Any], page: Any) -> None:
    endpoint, _ = site
    page.goto(endpoint + "/")
    page.fill("main input[name=q]", '<img src=x onerror="document.title=1">')
    page.press("main input[name=q]", "Enter")
    page.wait_for_selector("#unknown")
    assert "No module provides" in page.inner_text("#unknown")
    assert page.title() != "1" and page.locator("main img").count() == 0
    response = page.goto(endpoint + "/modules/toy/unicorn")
    assert response is not None and response.status == 404
    assert "No module 'toy/unicorn'" in page.inner_text("#message")
