"""The report page: a ReportData and its figures rendered through the Jinja2 template
`templates/report.html.j2`, with autoescaping on: every record string is untrusted and ends up escaped.
Needs the `report` extra (jinja2)."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

try:  # the `report` extra: where it is missing, build_report stops with a line naming it, before any page
    import jinja2
    from markupsafe import Markup
except ImportError:
    jinja2 = None  # type: ignore[assignment]

from pipeline.commands.report.data import (
    KEY_ENTITIES_PER_ARTICLE,
    NO_TOPIC,
    RISING_MIN_MENTIONS,
    RISING_RULE,
    ReportData,
)

# The report needs no script and nothing from outside: images are data: URIs, styles are inline.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_ENV = (
    jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.commands.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    if jinja2 is not None
    else None
)


def safe_href(url) -> Markup | None:
    """The URL when it is an absolute http(s) URL (escaped for an attribute), else None."""
    if not url:
        return None
    url = str(url).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ord(ch) < 0x20 or ch.isspace() for ch in url):
        return None
    return Markup(html.escape(url, quote=True))


def render_html(data: ReportData, figures: dict[str, str]) -> str:
    """The page; `figures` maps figure ids to PNG data URIs (figures.render_figures)."""
    days = sorted(data.volume)
    return _ENV.get_template("report.html.j2").render(
        data=data,
        figures=figures,
        csp=CSP,
        safe_href=safe_href,
        days=days,
        period=f"{days[0].isoformat()} – {days[-1].isoformat()}" if days else "–",
        dead_letter_rows=sorted(data.dead_letters.items(), key=lambda kv: (-kv[1], kv[0])),
        no_topic=NO_TOPIC,
        rising_rule=RISING_RULE.format(min=RISING_MIN_MENTIONS),
        key_entities_per_article=KEY_ENTITIES_PER_ARTICLE,
    )
