"""`news-ingest report`: a self-contained HTML report over the pipeline's Avro output.

    news-ingest report --input DIR --output report.html [--top N]

Reads every `articles-*.avro` under DIR (recursively, so streaming-window subfolders are included) and
counts the records of every `deadletter-*.avro`. The page embeds its figures as base64 PNG data URIs and
loads nothing else (no CSS/JS/fonts from outside; a Content-Security-Policy forbids it), so it opens
offline and can be mailed around.

The computation (plain functions over record dicts, returning numbers) is kept apart from the rendering
(`render_html` and the `figure_*` functions) so that tests can compare the numbers with the Avro records.
Every string that comes from a record is escaped: the input is untrusted.
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import sys
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import urlsplit

from pipeline.cli import int_at_least

PROG = "news-ingest report"
NO_TOPIC = "(no topic)"
KEY_ENTITIES_PER_ARTICLE = 5
RISING_MIN_MENTIONS = 2
# The report needs no script and nothing from outside: images are data: URIs, styles are inline.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

# Fields the report reads; everything else (notably `text`) is dropped while loading to save memory.
_KEEP = ("id", "source", "url", "title", "published_at", "ingested_at", "entities", "topics",
         "topic_labels", "entity_summary", "language")


class ReportError(Exception):
    """A problem with the input that ends the command with a one-line error."""


# ----------------------------------------------------------------------------------------------------
# Loading


def find_files(input_dir: Path, pattern: str) -> list[Path]:
    """Files matching pattern under input_dir, recursively; Beam's temporary folders (beam-temp-*) and
    hidden ones are skipped, as their files may be incomplete."""
    input_dir = Path(input_dir)
    return sorted(
        p for p in input_dir.rglob(pattern)
        if p.is_file() and not any(part.startswith((".", "beam-temp")) for part in p.relative_to(input_dir).parts)
    )


def _read_avro(path: Path) -> Iterable[dict]:
    import fastavro

    try:
        with open(path, "rb") as f:
            yield from fastavro.reader(f)
    except Exception as e:  # corrupt block, not an Avro file, unreadable ...
        raise ReportError(f"cannot read {path}: {type(e).__name__}: {e}") from e


def load_articles(input_dir: Path) -> tuple[list[dict], list[Path]]:
    """All article records under input_dir (only the fields the report uses) and the files read."""
    files = find_files(input_dir, "articles-*.avro")
    records = []
    for path in files:
        for rec in _read_avro(path):
            records.append({k: rec[k] for k in _KEEP if k in rec})
    return records, files


def load_dead_letter_stages(input_dir: Path) -> tuple[Counter, list[Path]]:
    """Dead-letter counts by stage under input_dir, and the files read."""
    files = find_files(input_dir, "deadletter-*.avro")
    stages: Counter = Counter()
    for path in files:
        for rec in _read_avro(path):
            stages[str(rec.get("stage", "?"))] += 1
    return stages, files


# ----------------------------------------------------------------------------------------------------
# Computation: plain functions returning data


def _as_datetime(value) -> Optional[datetime]:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):  # epoch millis, when read without logical types
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    return None


def article_datetime(rec: dict) -> Optional[datetime]:
    """published_at, falling back to ingested_at (UTC)."""
    dt = _as_datetime(rec.get("published_at")) or _as_datetime(rec.get("ingested_at"))
    return dt.astimezone(timezone.utc) if dt else None


def article_day(rec: dict) -> Optional[date]:
    dt = article_datetime(rec)
    return dt.date() if dt else None


def topic_order(records: list[dict]) -> list[str]:
    """Topics in taxonomy order (the order of `topics` in the first record that has them), then any other
    label seen in `topic_labels`, sorted."""
    order: list[str] = []
    seen: set[str] = set()
    for rec in records:
        if rec.get("topics"):
            for t in rec["topics"]:
                if t["label"] not in seen:
                    seen.add(t["label"])
                    order.append(t["label"])
            break
    extra = sorted({label for rec in records for label in rec.get("topic_labels") or []} - seen)
    return order + extra


def _labels(rec: dict) -> list[str]:
    """The article's topic labels, without duplicates, in record order."""
    return list(dict.fromkeys(rec.get("topic_labels") or []))


def topic_totals(records: list[dict]) -> Counter:
    """Articles per topic label; articles without any label count under NO_TOPIC."""
    c: Counter = Counter()
    for rec in records:
        labels = _labels(rec)
        c.update(labels or [NO_TOPIC])
    return c


def topic_volume_per_day(records: list[dict]) -> dict[date, Counter]:
    """{day: Counter(topic -> articles)} for days that have articles (day of published_at, else of
    ingested_at; UTC). Articles without topics count under NO_TOPIC, so each day's counts add up to at
    least its number of articles (an article with k topics counts k times)."""
    out: dict[date, Counter] = defaultdict(Counter)
    for rec in records:
        day = article_day(rec)
        if day is None:
            continue
        out[day].update(_labels(rec) or [NO_TOPIC])
    return dict(sorted(out.items()))


def articles_per_day(records: list[dict]) -> Counter:
    return Counter(d for d in (article_day(r) for r in records) if d is not None)


@dataclass
class VolumeBins:
    unit: str  # day | week | month
    starts: list[date]
    counts: dict[str, list[int]]  # topic -> count per bin


def bin_volume(volume: dict[date, Counter], topics: list[str]) -> VolumeBins:
    """Per-day counts grouped into bins for plotting: days when the period spans at most 62 days, ISO
    weeks up to two years, months beyond. Every bin between the first and the last is present."""
    if not volume:
        return VolumeBins("day", [], {t: [] for t in topics})
    first, last = min(volume), max(volume)
    span = (last - first).days
    if span <= 62:
        unit, key = "day", (lambda d: d)
    elif span <= 730:
        unit, key = "week", (lambda d: d - timedelta(days=d.weekday()))
    else:
        unit, key = "month", (lambda d: d.replace(day=1))
    starts = []
    cur = key(first)
    while cur <= last:
        starts.append(cur)
        if unit == "day":
            cur += timedelta(days=1)
        elif unit == "week":
            cur += timedelta(days=7)
        else:
            cur = (cur.replace(day=28) + timedelta(days=4)).replace(day=1)
    index = {s: i for i, s in enumerate(starts)}
    counts = {t: [0] * len(starts) for t in topics}
    for day, c in volume.items():
        i = index[key(day)]
        for t, n in c.items():
            counts.setdefault(t, [0] * len(starts))[i] += n
    return VolumeBins(unit, starts, counts)


def cooccurrence(records: list[dict], topics: list[str]) -> list[list[int]]:
    """matrix[i][j] = articles labelled with both topics[i] and topics[j]; the diagonal is the number of
    articles with topics[i]."""
    index = {t: i for i, t in enumerate(topics)}
    m = [[0] * len(topics) for _ in topics]
    for rec in records:
        idx = [index[t] for t in _labels(rec) if t in index]
        for i in idx:
            for j in idx:
                m[i][j] += 1
    return m


def entity_key(e: dict) -> tuple[str, str]:
    """Entities are counted by (surface text with whitespace collapsed, label)."""
    return " ".join(str(e.get("text", "")).split()), str(e.get("label", ""))


@dataclass
class EntityStat:
    text: str
    label: str
    mentions: int  # mentions in the articles considered
    articles: int  # articles that mention it at least once


def _entity_stats(records: Iterable[dict]) -> list[EntityStat]:
    mentions: Counter = Counter()
    articles: Counter = Counter()
    for rec in records:
        keys = [entity_key(e) for e in rec.get("entities") or []]
        mentions.update(keys)
        articles.update(set(keys))
    stats = [EntityStat(t, lab, n, articles[(t, lab)]) for (t, lab), n in mentions.items() if t]
    stats.sort(key=lambda s: (-s.mentions, -s.articles, s.text, s.label))
    return stats


def top_entities(records: list[dict], top: int) -> list[EntityStat]:
    """The `top` entities of all articles by mentions (ties: articles, then text)."""
    return _entity_stats(records)[:top]


def top_entities_per_topic(records: list[dict], topics: list[str], top: int) -> dict[str, list[EntityStat]]:
    """For each topic with articles: its `top` entities by mentions within the articles labelled with it."""
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        for t in _labels(rec):
            by_topic[t].append(rec)
    return {t: _entity_stats(by_topic[t])[:top] for t in topics if by_topic.get(t)}


@dataclass
class RisingEntity:
    text: str
    label: str
    first: int  # mentions in the first half
    second: int  # mentions in the second half

    @property
    def change(self) -> int:
        return self.second - self.first


@dataclass
class Rising:
    start: Optional[date]
    split: Optional[date]  # first day of the second half
    end: Optional[date]
    first_articles: int
    second_articles: int
    entities: list[RisingEntity] = field(default_factory=list)


RISING_RULE = (
    "The period runs from the first to the last article day (day of published_at, else of ingested_at, "
    "UTC). It is cut in two at its middle: the first half has the first ⌈days/2⌉ days, the second half "
    "the rest. For each entity (same text and label) the report counts its mentions in the articles of "
    "each half. An entity is rising when it has at least {min} mentions in the second half and more "
    "mentions in the second half than in the first. Rising entities are ranked by the increase "
    "(second − first), then by second-half mentions. Counts are not normalised by the number of "
    "articles per half, which the page shows next to the table."
)


def rising_entities(records: list[dict], top: int, min_mentions: int = RISING_MIN_MENTIONS) -> Rising:
    """Entities whose mentions grew from the first half of the period to the second (see RISING_RULE)."""
    days = [(article_day(r), r) for r in records]
    days = [(d, r) for d, r in days if d is not None]
    if not days:
        return Rising(None, None, None, 0, 0)
    start = min(d for d, _ in days)
    end = max(d for d, _ in days)
    n_days = (end - start).days + 1
    split = start + timedelta(days=(n_days + 1) // 2)
    if n_days < 2:  # a single day: nothing to compare
        return Rising(start, None, end, len(days), 0)
    first: Counter = Counter()
    second: Counter = Counter()
    first_articles = second_articles = 0
    for d, rec in days:
        keys = [entity_key(e) for e in rec.get("entities") or []]
        if d < split:
            first.update(keys)
            first_articles += 1
        else:
            second.update(keys)
            second_articles += 1
    rows = [RisingEntity(t, lab, first[(t, lab)], n) for (t, lab), n in second.items()
            if t and n >= min_mentions and n > first[(t, lab)]]
    rows.sort(key=lambda r: (-r.change, -r.second, r.text, r.label))
    return Rising(start, split, end, first_articles, second_articles, rows[:top])


def key_entities(rec: dict, k: int = KEY_ENTITIES_PER_ARTICLE) -> list[tuple[str, str, int]]:
    """The article's k most mentioned entities as (text, label, mentions); ties by first appearance."""
    c: Counter = Counter(entity_key(e) for e in rec.get("entities") or [])
    ordered = sorted(((key, n) for key, n in c.items() if key[0]), key=lambda kv: -kv[1])  # stable
    return [(t, lab, n) for (t, lab), n in ordered[:k]]


@dataclass
class ArticleRow:
    id: str
    day: Optional[date]
    dated_by: str  # published_at | ingested_at
    title: str
    url: Optional[str]
    source: Optional[str]
    topics: list[str]
    key_entities: list[tuple[str, str, int]]
    language: Optional[str] = None


def article_rows(records: list[dict]) -> list[ArticleRow]:
    """One row per article, newest first (undated last), ties by title and id."""
    rows = [ArticleRow(
        id=str(r.get("id", "")), day=article_day(r),
        dated_by="published_at" if r.get("published_at") is not None else "ingested_at",
        title=str(r.get("title", "")), url=r.get("url"), source=r.get("source"),
        topics=_labels(r), key_entities=key_entities(r), language=r.get("language"),
    ) for r in records]
    rows.sort(key=lambda a: (a.day is None, -(a.day.toordinal() if a.day else 0), a.title, a.id))
    return rows


@dataclass
class ReportData:
    input_dir: str
    article_files: int
    dead_letter_files: int
    n_articles: int
    dead_letters: Counter  # stage -> count
    topics: list[str]  # taxonomy order, NO_TOPIC last when present
    totals: Counter
    volume: dict[date, Counter]
    bins: VolumeBins
    cooc_topics: list[str]
    cooc: list[list[int]]
    top_overall: list[EntityStat]
    top_per_topic: dict[str, list[EntityStat]]
    rising: Rising
    articles: list[ArticleRow]
    top: int
    has_language: bool = False
    generated_at: str = ""


def compute(records: list[dict], *, dead_letters: Optional[Counter] = None, top: int = 10,
            input_dir: str = "", article_files: int = 0, dead_letter_files: int = 0) -> ReportData:
    """Every number the report shows."""
    taxonomy = topic_order(records)
    totals = topic_totals(records)
    topics = taxonomy + ([NO_TOPIC] if totals.get(NO_TOPIC) else [])
    volume = topic_volume_per_day(records)
    cooc_topics = [t for t in taxonomy if totals.get(t)]
    return ReportData(
        input_dir=input_dir, article_files=article_files, dead_letter_files=dead_letter_files,
        n_articles=len(records), dead_letters=dead_letters or Counter(), topics=topics, totals=totals,
        volume=volume, bins=bin_volume(volume, topics), cooc_topics=cooc_topics,
        cooc=cooccurrence(records, cooc_topics), top_overall=top_entities(records, top),
        top_per_topic=top_entities_per_topic(records, taxonomy, top),
        rising=rising_entities(records, top), articles=article_rows(records), top=top,
        has_language=any(r.get("language") for r in records),
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


# ----------------------------------------------------------------------------------------------------
# Figures (matplotlib, Agg) -> PNG data URIs


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# Record strings go into figures as plain text: no mathtext ("$...$" in an entity must not be parsed).
_RC = {"text.parse_math": False, "font.size": 9, "svg.fonttype": "none"}


def _topic_colors(topics: list[str]) -> dict[str, tuple]:
    plt = _plt()
    cmap = plt.get_cmap("tab20" if len(topics) > 10 else "tab10")
    colors, i = {}, 0
    for t in topics:
        if t == NO_TOPIC:
            colors[t] = (0.75, 0.75, 0.75, 1.0)
        else:
            colors[t] = cmap(i % cmap.N)
            i += 1
    return colors


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def figure_topic_volume(data: ReportData):
    plt = _plt()
    b = data.bins
    fig, ax = plt.subplots(figsize=(11, 4.2), dpi=100)
    x = list(range(len(b.starts)))
    bottom = [0] * len(x)
    colors = _topic_colors(data.topics)
    for t in data.topics:
        ys = b.counts.get(t) or [0] * len(x)
        if not any(ys):
            continue
        ax.bar(x, ys, bottom=bottom, width=0.85, label=_short(t, 30), color=colors[t], linewidth=0)
        bottom = [a + y for a, y in zip(bottom, ys)]
    fmt = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}[b.unit]
    step = max(1, len(x) // 16)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([s.strftime(fmt) for s in b.starts[::step]], rotation=45, ha="right")
    ax.set_xlim(-0.6, max(len(x), 1) - 0.4)
    ax.set_ylabel("articles × topic")
    ax.set_title(f"Topic volume per {b.unit} (stacked; an article counts once for each of its topics)")
    ax.grid(axis="y", alpha=0.3)
    if any(bottom):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def figure_cooccurrence(data: ReportData):
    plt = _plt()
    n = len(data.cooc_topics)
    size = max(4.0, min(11.0, 1.0 + 0.6 * n))
    fig, ax = plt.subplots(figsize=(size + 1.5, size), dpi=100)
    if n == 0:
        ax.text(0.5, 0.5, "no topics", ha="center", va="center")
        ax.set_axis_off()
        return fig
    im = ax.imshow(data.cooc, cmap="Blues", vmin=0)
    labels = [_short(t, 24) for t in data.cooc_topics]
    ax.set_xticks(range(n))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticks(range(n))
    ax.set_yticklabels(labels)
    vmax = max(max(row) for row in data.cooc) or 1
    for i in range(n):
        for j in range(n):
            v = data.cooc[i][j]
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if v > 0.6 * vmax else "black")
    ax.set_title("Topic co-occurrence (articles; diagonal = articles with the topic)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def figure_rising(data: ReportData):
    plt = _plt()
    rows = data.rising.entities
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.32 * len(rows) + 1.2)), dpi=100)
    if not rows:
        ax.text(0.5, 0.5, "no rising entities", ha="center", va="center")
        ax.set_axis_off()
        return fig
    ys = list(range(len(rows)))[::-1]
    h = 0.4
    ax.barh([y + h / 2 for y in ys], [r.first for r in rows], height=h, label="first half", color="#9db4d0")
    ax.barh([y - h / 2 for y in ys], [r.second for r in rows], height=h, label="second half", color="#d9534f")
    ax.set_yticks(ys)
    ax.set_yticklabels([_short(f"{r.text} ({r.label})", 40) for r in rows])
    ax.set_xlabel("mentions")
    ax.set_title("Rising entities: mentions in the first vs the second half of the period")
    ax.legend(loc="lower right", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def figure_to_data_uri(fig) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render_figures(data: ReportData) -> dict[str, str]:
    """{figure id: PNG data URI}."""
    plt = _plt()
    out = {}
    with plt.rc_context(_RC), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. glyphs missing from the bundled font
        out["fig-topic-volume"] = figure_to_data_uri(figure_topic_volume(data))
        out["fig-cooccurrence"] = figure_to_data_uri(figure_cooccurrence(data))
        out["fig-rising"] = figure_to_data_uri(figure_rising(data))
    return out


# ----------------------------------------------------------------------------------------------------
# HTML


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def safe_href(url) -> Optional[str]:
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
    return esc(url)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:1.5em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#f3f5f8}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
.muted{color:#666;font-size:.9em}.grid{display:flex;flex-wrap:wrap;gap:1.5em}
.grid>div{flex:1 1 320px;min-width:280px}
#articles td{word-break:break-word}#articles td:first-child{white-space:nowrap}.tag{display:inline-block;background:#eef2f7;border-radius:3px;
padding:0 .3em;margin:0 .2em .1em 0;font-size:.85em}
details{margin:.5em 0}
"""


def _num(n) -> str:
    return f'<td class="num">{int(n)}</td>'


def _entity_table(table_id: str, stats: list[EntityStat], topic: Optional[str] = None) -> str:
    topic_attr = f' data-topic="{esc(topic)}"' if topic is not None else ""
    rows = "".join(
        f"<tr><td>{esc(s.text)}</td><td>{esc(s.label)}</td>{_num(s.mentions)}{_num(s.articles)}</tr>"
        for s in stats)
    return (f'<table class="entities" id="{esc(table_id)}"{topic_attr}><thead><tr><th>entity</th><th>label</th>'
            f'<th class="num">mentions</th><th class="num">articles</th></tr></thead><tbody>{rows}</tbody></table>')


def render_html(data: ReportData, figures: Optional[dict[str, str]] = None) -> str:
    figures = render_figures(data) if figures is None else figures
    p: list[str] = []
    a = p.append
    days = sorted(data.volume)
    period = f"{days[0].isoformat()} – {days[-1].isoformat()}" if days else "–"
    a("<!DOCTYPE html>")
    a('<html lang="en"><head><meta charset="utf-8">')
    a(f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">')
    a('<meta name="referrer" content="no-referrer">')
    a('<meta name="viewport" content="width=device-width, initial-scale=1">')
    a("<title>News ingest report</title>")
    a(f"<style>{_CSS}</style></head><body>")
    a("<h1>News ingest report</h1>")
    a(f'<p class="muted">Input: <code>{esc(data.input_dir)}</code> · generated {esc(data.generated_at)}</p>')

    # Summary
    a('<h2 id="summary">Summary</h2><table id="summary-table"><tbody>')
    a(f"<tr><th>articles</th>{_num(data.n_articles)}</tr>")
    a(f"<tr><th>dead letters</th>{_num(sum(data.dead_letters.values()))}</tr>")
    a(f"<tr><th>article files</th>{_num(data.article_files)}</tr>")
    a(f"<tr><th>dead-letter files</th>{_num(data.dead_letter_files)}</tr>")
    a(f"<tr><th>days with articles</th>{_num(len(days))}</tr>")
    a(f"<tr><th>period</th><td>{esc(period)}</td></tr>")
    a("</tbody></table>")
    if data.dead_letters:
        a('<table id="deadletter-table"><thead><tr><th>dead-letter stage</th><th class="num">records</th>'
          "</tr></thead><tbody>")
        for stage, n in sorted(data.dead_letters.items(), key=lambda kv: (-kv[1], kv[0])):
            a(f"<tr><td>{esc(stage)}</td>{_num(n)}</tr>")
        a("</tbody></table>")

    # Topic volume
    a('<h2 id="topic-volume">Topic volume</h2>')
    a(f'<p>Articles per topic and {esc(data.bins.unit)}, by the day of <code>published_at</code> '
      "(<code>ingested_at</code> when an article has no publication time), UTC. An article with several "
      f"topics counts once for each; articles with none count as “{esc(NO_TOPIC)}”. Bars are "
      f"{esc(data.bins.unit)}s because the period spans {len(data.bins.starts)} {esc(data.bins.unit)}s; "
      "the daily counts are in the table below the figure.</p>")
    a(f'<img id="fig-topic-volume" alt="Topic volume per {esc(data.bins.unit)}" '
      f'src="{figures["fig-topic-volume"]}">')
    a('<table id="topic-totals"><thead><tr><th>topic</th><th class="num">articles</th>'
      '<th class="num">share</th></tr></thead><tbody>')
    for t in data.topics:
        n = data.totals.get(t, 0)
        share = f"{100 * n / data.n_articles:.1f}%" if data.n_articles else "–"
        a(f'<tr><td>{esc(t)}</td>{_num(n)}<td class="num">{share}</td></tr>')
    a("</tbody></table>")
    a(f"<details><summary>Daily counts ({len(days)} days with articles)</summary>")
    a('<table id="volume-table"><thead><tr><th>day</th><th class="num">articles</th>')
    for t in data.topics:
        a(f'<th class="num">{esc(t)}</th>')
    a("</tr></thead><tbody>")
    per_day = Counter()
    for art in data.articles:
        if art.day is not None:
            per_day[art.day] += 1
    for d in days:
        c = data.volume[d]
        a(f"<tr><td>{d.isoformat()}</td>{_num(per_day[d])}" + "".join(_num(c.get(t, 0)) for t in data.topics)
          + "</tr>")
    a("</tbody></table></details>")

    # Co-occurrence
    a('<h2 id="cooccurrence">Topic co-occurrence</h2>')
    a("<p>Number of articles labelled with both topics; the diagonal is the number of articles with the "
      "topic.</p>")
    a(f'<img id="fig-cooccurrence" alt="Topic co-occurrence heatmap" src="{figures["fig-cooccurrence"]}">')
    a('<details><summary>Co-occurrence counts</summary><table id="cooccurrence-table"><thead><tr><th></th>')
    for t in data.cooc_topics:
        a(f"<th>{esc(t)}</th>")
    a("</tr></thead><tbody>")
    for t, row in zip(data.cooc_topics, data.cooc):
        a(f"<tr><th>{esc(t)}</th>" + "".join(_num(v) for v in row) + "</tr>")
    a("</tbody></table></details>")

    # Top entities
    a('<h2 id="entities">Top entities</h2>')
    a(f"<p>The {data.top} most mentioned entities (same text and label), overall and within the articles "
      "of each topic. <em>mentions</em> counts every mention; <em>articles</em> counts the articles that "
      "mention the entity.</p>")
    a('<h3>All articles</h3>')
    a(_entity_table("entities-all", data.top_overall))
    a('<div class="grid">')
    for i, (t, stats) in enumerate(data.top_per_topic.items()):
        a(f"<div><h3>{esc(t)} <span class=\"muted\">({data.totals.get(t, 0)} articles)</span></h3>")
        a(_entity_table(f"entities-topic-{i}", stats, topic=t))
        a("</div>")
    a("</div>")

    # Rising
    r = data.rising
    a('<h2 id="rising">Rising entities</h2>')
    a(f"<p>{esc(RISING_RULE.format(min=RISING_MIN_MENTIONS))}</p>")
    if r.split is not None:
        a(f'<p id="rising-halves">First half: {esc(r.start)} – {esc(r.split - timedelta(days=1))} '
          f"({r.first_articles} articles). Second half: {esc(r.split)} – {esc(r.end)} "
          f"({r.second_articles} articles).</p>")
    else:
        a('<p id="rising-halves">The articles cover a single day: there is no period to compare.</p>')
    a(f'<img id="fig-rising" alt="Rising entities" src="{figures["fig-rising"]}">')
    a('<table id="rising-table"><thead><tr><th>entity</th><th>label</th><th class="num">first half</th>'
      '<th class="num">second half</th><th class="num">change</th></tr></thead><tbody>')
    for e in r.entities:
        a(f"<tr><td>{esc(e.text)}</td><td>{esc(e.label)}</td>{_num(e.first)}{_num(e.second)}"
          f'<td class="num">+{e.change}</td></tr>')
    a("</tbody></table>")

    # Articles
    a('<h2 id="articles-section">Articles</h2>')
    a(f"<p>{data.n_articles} articles, newest first. Dates are of <code>published_at</code>; an asterisk "
      f"marks <code>ingested_at</code> used instead. Key entities: the {KEY_ENTITIES_PER_ARTICLE} most "
      "mentioned in the article, with mention counts. Titles link to the article URL when it is an "
      "http(s) URL.</p>")
    lang_th = "<th>language</th>" if data.has_language else ""
    a(f'<table id="articles"><thead><tr><th>date</th><th>title</th><th>source</th>{lang_th}<th>topics</th>'
      "<th>key entities</th></tr></thead><tbody>")
    for art in data.articles:
        day = (art.day.isoformat() if art.day else "–") + ("*" if art.dated_by == "ingested_at" else "")
        href = safe_href(art.url)
        title = esc(art.title) or "<em>(untitled)</em>"
        title_html = (f'<a href="{href}" rel="noopener noreferrer nofollow">{title}</a>' if href else title)
        topics = "".join(f'<span class="tag">{esc(t)}</span>' for t in art.topics)
        ents = ", ".join(f"{esc(t)} <span class=\"muted\">({esc(lab)}) ×{n}</span>"
                         for t, lab, n in art.key_entities)
        lang_td = f"<td>{esc(art.language)}</td>" if data.has_language else ""
        a(f'<tr data-id="{esc(art.id)}"><td>{day}</td><td>{title_html}</td><td>{esc(art.source)}</td>'
          f"{lang_td}<td>{topics}</td><td>{ents}</td></tr>")
    a("</tbody></table>")
    a("</body></html>")
    return "\n".join(p)


# ----------------------------------------------------------------------------------------------------
# CLI


def build_report(input_dir: Path, output: Path, top: int = 10) -> ReportData:
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise ReportError(f"input directory not found: {input_dir}")
    records, files = load_articles(input_dir)
    stages, dl_files = load_dead_letter_stages(input_dir)
    if not files and not dl_files:
        raise ReportError(f"no articles-*.avro or deadletter-*.avro files under {input_dir}")
    data = compute(records, dead_letters=stages, top=top, input_dir=str(input_dir),
                   article_files=len(files), dead_letter_files=len(dl_files))
    page = render_html(data)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(output)
    return data


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Build a self-contained HTML report (figures embedded, opens offline) from the "
                    "pipeline's Avro output: topic volume, topic co-occurrence, top and rising entities, "
                    "and a table of the articles.")
    ap.add_argument("--input", required=True, type=Path,
                    help="output folder of the pipeline; articles-*.avro and deadletter-*.avro are found "
                         "recursively")
    ap.add_argument("--output", required=True, type=Path, help="HTML file to write")
    ap.add_argument("--top", type=int_at_least(1), default=10,
                    help="entities per table and rising entities shown (default 10)")
    return ap


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        data = build_report(args.input, args.output, top=args.top)
    except ReportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    print(f"{PROG}: {data.n_articles} articles, {sum(data.dead_letters.values())} dead letters -> "
          f"{args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
