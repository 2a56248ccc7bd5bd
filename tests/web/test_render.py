"""Rendering helpers: the safe Markdown subset, the chart, query parsing and page links."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from nnparts.registry.web_render import human_size, markdown, per_class_chart, percent, split_front_matter
from nnparts.registry.web_search import MAX_QUERY, page_links, parse_query


def test_markdown_escapes_before_it_formats() -> None:
    text = (
        "# Title <script>x()</script>\n\nSome **bold** and `code <b>`.\n\n"
        "- [site](https://example.org/a?b=1&c=2)\n- [bad](javascript:alert(1))\n"
        '- <img src=x onerror="alert(1)">\n\n```\n<raw> & code\n```\n'
    )
    html = str(markdown(text))
    assert "<h3>Title &lt;script&gt;x()&lt;/script&gt;</h3>" in html
    assert "<strong>bold</strong>" in html and "<code>code &lt;b&gt;</code>" in html
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener">site</a>' in html
    assert "javascript:" not in html.split("[bad]")[0] and 'href="javascript' not in html
    assert "<img" not in html and "&lt;img" in html
    assert "<pre><code>&lt;raw&gt; &amp; code</code></pre>" in html


def test_front_matter_is_split_off() -> None:
    assert split_front_matter("---\na: 1\n---\n# Body\n") == ("a: 1", "# Body\n")
    assert split_front_matter("# No front matter\n") == ("", "# No front matter\n")


def test_chart_scales_fractions_and_other_values() -> None:
    chart = per_class_chart({"cat": {"accuracy": 0.5}, "dog": {"accuracy": 1.0, "bad": "x"}})
    assert chart is not None and [b.width for b in chart.bars] == [160.0, 320.0]
    assert [b.value_text for b in chart.bars] == ["50.0%", "100.0%"]
    loss = per_class_chart({"cat": {"loss": 2.0}, "dog": {"loss": 4.0}})
    assert loss is not None and [b.width for b in loss.bars] == [160.0, 320.0]
    assert per_class_chart(None) is None and per_class_chart({"cat": "nope"}) is None


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KB"), (3 * 1024**3, "3.0 GB")]
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


def test_percent() -> None:
    assert percent(0.9312) == "93.1%" and percent(None) == "–" and percent(float("nan")) == "–"


def test_parse_query_repairs_everything() -> None:
    q = parse_query(
        QueryParams({"q": " cat\x00\x07  dog ", "sort": "x", "page": "abc", "max_density": "50%"})
    )
    assert q.q == "cat dog" and q.sort == "published" and q.page == 1 and q.max_density == 0.5
    assert len(q.notices) == 2
    long = parse_query(QueryParams({"q": "z" * 1000}))
    assert len(long.q) == MAX_QUERY and "1000 characters" in long.notices[0]
    asc = parse_query(QueryParams({"sort": "density"}))
    assert not asc.descending and asc.url(page=2) == "/search?sort=density&order=asc&page=2"
    assert asc.sort_url("density") == "/search?sort=density&order=desc"


def test_page_links_have_gaps() -> None:
    assert page_links(1, 1) == [1]
    assert page_links(10, 40) == [1, None, 7, 8, 9, 10, 11, 12, 13, None, 40]
    assert page_links(2, 5) == [1, 2, 3, 4, 5]
