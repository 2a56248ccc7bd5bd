"""The web pages against an in-process registry holding really published modules."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest
from web_registry import BULK_COUNT, BULK_REPO, PER_CLASS, Published

pytestmark = [
    pytest.mark.network,
    # huggingface_hub 2.4.0 PUTs LFS blobs with httpx2's deprecated ``data=`` (not ours to fix).
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


def cells(text: str, cls: str) -> list[str]:
    """The text of every ``<td class="... cls ...">`` in order."""
    found = re.findall(rf'<td class="[^"]*\b{cls}\b[^"]*">(.*?)</td>', text, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found]


def module_ids(text: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'class="module-link" href="[^"]+">([^<]+)</a>', text)]


def test_home_counts_and_latest(published: Published) -> None:
    page = published.server.get("/")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    # 4 HubIndex modules not yanked + 30 bulk ones; origins resnet20-cifar10 and digits-cnn;
    # classes cat, dog, ship, seven, bird
    assert re.search(r'id="count-modules">(\d+)<', page.text)[1] == str(4 + BULK_COUNT)  # type: ignore[index]
    assert re.search(r'id="count-origins">(\d+)<', page.text)[1] == "2"  # type: ignore[index]
    assert re.search(r'id="count-classes">(\d+)<', page.text)[1] == "5"  # type: ignore[index]
    latest = module_ids(page.text)
    assert (len(latest) == 10 and "toy/cat" in " ".join(latest)) or latest[0].startswith("bulk/")
    assert 'action="/search"' in page.text and "<script" not in page.text


def test_static_css_is_served_locally(published: Published) -> None:
    page = published.server.get("/static/style.css")
    assert page.status == 200 and page.headers["content-type"].startswith("text/css")
    assert "svg.chart" in page.text
    home = published.server.get("/").text
    assert "http://" not in re.sub(r"<code>http://127\.0\.0\.1:\d+</code>", "", home.split("<main>")[0])
    assert published.server.get("/static/../registry.sqlite3").status == 404


def test_search_by_class_and_alias(published: Published) -> None:
    by_name = published.server.get("/search?q=cat")
    by_alias = published.server.get("/search?q=KITTY")
    assert by_name.status == by_alias.status == 200
    assert module_ids(by_name.text) == module_ids(by_alias.text) == ["toy/cat"]
    assert cells(by_name.text, "accuracy") == ["93.0%"]
    assert cells(by_name.text, "density") == ["0.5"]
    assert "1.1.0" not in by_name.text  # yanked: hidden by default ...
    with_yanked = published.server.get("/search?q=cat&yanked=1&sort=id")
    assert module_ids(with_yanked.text) == ["toy/cat", "toy/cat"]
    assert with_yanked.text.count('class="badge yanked"') == 1  # ... and marked when shown


def test_search_sort_filter_and_pages(published: Published) -> None:
    server = published.server
    asc = server.get("/search?q=bird&sort=accuracy&order=asc")
    values = [float(v.rstrip("%")) for v in cells(asc.text, "accuracy")]
    assert len(values) == 25 and values == sorted(values) and values[0] == 50.0
    assert re.search(r'id="total">(\d+)<', asc.text)[1] == str(BULK_COUNT)  # type: ignore[index]
    assert 'rel="next"' in asc.text and "page=2" in asc.text
    page2 = server.get("/search?q=bird&sort=accuracy&order=asc&page=2")
    assert len(cells(page2.text, "accuracy")) == BULK_COUNT - 25 and 'rel="prev"' in page2.text
    desc = server.get("/search?q=bird&sort=density&order=desc")
    dens = [float(v) for v in cells(desc.text, "density")]
    assert dens == sorted(dens, reverse=True)
    filtered = server.get("/search?q=bird&min_accuracy=0.7&max_density=0.63")
    assert module_ids(filtered.text) == ["bulk/bird-27", "bulk/bird-28", "bulk/bird-29"]
    by_method = server.get("/search?method=activation")
    assert module_ids(by_method.text) == ["toy/seven"]
    by_origin = server.get("/search?origin=resnet20-cifar10&sort=id&order=asc")
    assert module_ids(by_origin.text)[:3] == ["bulk/bird-00", "bulk/bird-01", "bulk/bird-02"]
    sizes = server.get("/search?q=&sort=size&order=asc")
    assert sizes.status == 200 and 'href="/search?q=&amp;sort=size&amp;order=desc"' not in sizes.text


@pytest.mark.parametrize(
    ("query", "expect"),
    [
        ("/search?q=" + "a" * 500, "only the first 200 were used"),
        ("/search?q=" + quote("<script>alert(1)</script>"), "No module provides"),
        ("/search?q=" + quote("\"'&;%00\x07é猫"), "No module provides"),
        ("/search?q=cat&sort=nope&order=sideways&page=-3", "Cannot sort by"),
        ("/search?q=cat&page=999999999999", "does not exist"),
        ("/search?q=cat&min_accuracy=NaN&max_density=2", "must be a number from 0 to 1"),
        ("/search?q=cat&page=40", "only 1 page"),
        ("/search?q=cat&origin=" + quote("<nowhere>"), "No module matches these filters"),
    ],
)
def test_bad_queries_render_friendly_pages(published: Published, query: str, expect: str) -> None:
    page = published.server.get(query)
    assert page.status == 200, page.text
    assert expect in html.unescape(page.text)
    assert "<script>alert" not in page.text and "<nowhere>" not in page.text


def test_unknown_class_suggests_near_names(published: Published) -> None:
    page = published.server.get("/search?q=kity")
    assert page.status == 200 and 'id="unknown"' in page.text
    assert "No module provides “kity”" in page.text and 'href="/search?q=kitty"' in page.text
    partial = published.server.get("/search?q=bir")  # a substring of a class: shown, with a notice
    assert "showing classes that contain it" in partial.text and len(module_ids(partial.text)) == 25


def test_module_page_shows_the_manifest(published: Published) -> None:
    doc = published.manifests["toy/cat@1.0.0"]
    page = published.server.get("/modules/toy/cat")
    assert page.status == 200
    text = page.text
    assert '<span id="module-id">toy/cat</span>' in text and 'id="module-version">1.0.0<' in text
    assert 'href="/search?q=cat">cat</a>' in text and "also kitty" in text
    assert 'id="origin-link" href="/origins/resnet20-cifar10"' in text
    assert 'id="density">0.5<' in text and 'id="metric-accuracy">93.0%<' in text
    assert "Cat detector &lt;b&gt;not bold&lt;/b&gt;." in text  # escaped, never HTML
    for f in doc["files"]:
        assert f"<td>{f['path']}</td>" in text and f'sha256">{f["sha256"]}</code>' in text
    bars = re.findall(r'<rect [^>]*width="([\d.]+)" height="15" class="bar"/>', text)
    assert len(bars) == sum(len(v) for v in PER_CLASS.values())
    assert float(bars[0]) == pytest.approx(320 * PER_CLASS["cat"]["accuracy"], abs=0.1)
    endpoint = published.server.endpoint
    assert f"nnparts install cat --registry {endpoint} --lock nnparts.lock" in text
    assert "nnparts assemble --lock nnparts.lock --out model/" in text
    versions = re.search(r'<table class="versions".*?</table>', text, re.S)[0]  # type: ignore[index]
    assert "1.1.0" in versions and "yanked" in versions and "accuracy regression" in versions
    assert '<div class="markdown" id="model-card"><h3>toy/cat@1.0.0</h3>' in text
    assert "<details><summary>Metadata</summary>" in text  # the card's YAML, shown as text


def test_module_versions_and_locations(published: Published) -> None:
    server = published.server
    yanked = server.get("/modules/toy/cat?version=1.1.0")
    assert yanked.status == 200 and 'id="yanked"' in yanked.text and "accuracy regression" in yanked.text
    link = re.search(r'href="(/m/[^"]+/1\.1\.0)"', yanked.text)[1]  # type: ignore[index]
    assert server.get(link).text.count('id="module-version">1.1.0<') == 1
    bulk = server.get(f"/m/{BULK_REPO}/pkg-07")
    assert bulk.status == 200 and 'id="module-id">bulk/bird-07<' in bulk.text
    assert "No README.md next to this module." in bulk.text


@pytest.mark.parametrize(
    "path",
    [
        "/modules/toy/unicorn",
        "/modules/toy/cat?version=9.9.9",
        f"/m/{BULK_REPO}/broken",  # an invalid manifest is never catalogued
        "/m/nobody/nothing/modules/x",
        "/origins/resnet20-cifar1",
        "/origins/" + quote("<b>x</b>"),
    ],
)
def test_unknown_pages_are_friendly_404s(published: Published, path: str) -> None:
    page = published.server.get(path)
    assert page.status == 404 and page.headers["content-type"].startswith("text/html")
    assert 'class="friendly error"' in page.text and "<b>x</b>" not in page.text
    if path == "/origins/resnet20-cifar1":
        assert 'href="/origins/resnet20-cifar10"' in page.text


def test_origin_page_matrix(published: Published) -> None:
    page = published.server.get("/origins/resnet20-cifar10")
    assert page.status == 200
    matrix = re.search(r'<table class="matrix".*?</table>', page.text, re.S)[0]  # type: ignore[index]
    assert re.findall(r"<th>(\w+)</th>", matrix.split("</thead>")[0]) == ["Class", "channel"]
    rows = re.findall(r'<tr><th><a href="/search\?q=(\w+)&amp;origin=resnet20-cifar10"', matrix)
    assert rows == ["bird", "cat", "dog", "ship"]
    cat_row = re.search(r"q=cat&amp;.*?</tr>", matrix, re.S)[0]  # type: ignore[index]
    assert "93.0%" in cat_row and "density 0.5" in cat_row  # the best non-yanked cat module
    digits = published.server.get("/origins/digits-cnn")
    assert "activation" in digits.text and "99.0%" in digits.text and "density 0.2" in digits.text


def test_hub_api_still_answers_beside_the_pages(published: Published) -> None:
    listing = published.server.get("/api/models?search=many")
    assert listing.status == 200 and listing.headers["content-type"].startswith("application/json")
    missing = published.server.get("/modules/cat/resolve/main/x.json")  # Hub file URL shape
    assert missing.status == 404 and missing.headers["x-error-code"] == "RepoNotFound"
    assert published.server.get("/api/nothing-here").headers["x-error-code"]
