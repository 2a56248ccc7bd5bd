"""HTML rendering for the web pages: the jinja2 environment, value filters, a small safe Markdown
subset for model cards and the per-class bar chart.

Everything is escaped: templates autoescape, and :func:`markdown` escapes its input *before* it adds
the few tags it knows (headings, lists, paragraphs, code, bold, and links to ``http(s)`` URLs only).
``markupsafe`` is jinja2's own dependency (its ``Markup`` type marks HTML as already safe).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

_FRONT_MATTER = re.compile(r"\A---\r?\n(.*?)\r?\n---\r?\n", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^\s)]+)\)")


def environment() -> Environment:
    """The template environment: package templates, autoescape on, strict undefined names."""
    env = Environment(
        loader=PackageLoader("nnparts.registry", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(size=human_size, pct=percent, num=number, markdown=markdown)
    return env


def human_size(n: int | None) -> str:
    """``1536`` -> ``1.5 KB`` (powers of 1024)."""
    if n is None:
        return "–"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def percent(x: float | None) -> str:
    """A fraction in [0, 1] as a percentage with one decimal; ``–`` when unknown."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{100 * x:.1f}%"


def number(x: Any) -> str:
    """Short display of numbers (``0.5``, ``1e-05``), other values as text."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    return f"{x:g}" if isinstance(x, float) else str(x)


def split_front_matter(text: str) -> tuple[str, str]:
    """``(yaml, body)`` of a model card; ``yaml`` is ``""`` when there is no front matter."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text
    return match.group(1), text[match.end() :]


def markdown(text: str) -> Markup:
    """A safe subset of Markdown as HTML. Headings shift down two levels (``#`` -> ``h3``)."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    code: list[str] | None = None

    def flush() -> None:
        if para:
            out.append(f"<p>{' '.join(para)}</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        if line.strip().startswith("```"):
            if code is None:
                flush()
                code = []
            else:
                out.append(f"<pre><code>{escape(chr(10).join(code))}</code></pre>")
                code = None
            continue
        if code is not None:
            code.append(line)
            continue
        heading, bullet = _HEADING.match(line), _BULLET.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = min(6, len(heading.group(1)) + 2)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif bullet:
            if para:
                flush()
            items.append(_inline(bullet.group(1)))
        else:
            if items:
                flush()
            para.append(_inline(line.strip()))
    if code is not None:
        out.append(f"<pre><code>{escape(chr(10).join(code))}</code></pre>")
    flush()
    return Markup("\n".join(out))


def _inline(text: str) -> str:
    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    return _LINK.sub(r'<a href="\2" rel="nofollow noopener">\1</a>', html)


@dataclass(frozen=True)
class Bar:
    """One bar of a chart, in SVG user units."""

    label: str
    value_text: str
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart drawn as inline SVG by the ``module.html`` template."""

    bars: tuple[Bar, ...]
    height: int
    label_width: int = 200
    bar_width: int = 320
    row: int = 22


def per_class_chart(per_class: Any) -> Chart | None:
    """Bars for ``metrics.per_class`` (``{class: {metric: value}}``); ``None`` when absent.

    Values in [0, 1] are drawn against 1 and shown as percentages; otherwise against the maximum.
    """
    if not isinstance(per_class, dict):
        return None
    pairs: list[tuple[str, float]] = []
    for cls, metrics in per_class.items():
        if not isinstance(metrics, dict):
            continue
        for metric, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                pairs.append((f"{cls} · {metric}", float(value)))
    if not pairs:
        return None
    fractions = all(0.0 <= v <= 1.0 for _, v in pairs)
    scale = 1.0 if fractions else max(max(abs(v) for _, v in pairs), 1e-12)
    chart = Chart(bars=(), height=0)
    bars = tuple(
        Bar(
            label=label,
            value_text=percent(v) if fractions else f"{v:g}",
            y=i * chart.row,
            width=round(chart.bar_width * max(v, 0.0) / scale, 1),
        )
        for i, (label, v) in enumerate(pairs[:200])
    )
    return Chart(bars=bars, height=len(bars) * chart.row + 4)
