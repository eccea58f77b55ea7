"""The report's numbers: loading the pipeline's Avro output and plain functions over record dicts.

Nothing here draws or writes HTML (that is `figures.py` and `page.py`), so tests compare these numbers
with the Avro records directly. Every function takes the loaded records (dicts with the `_KEEP` fields)
and returns plain data; `compute` gathers everything the page shows into one `ReportData`.

Entities are counted by (name, label), the name normalised with `transforms.ner.entity_summary.entity_key`,
the same rule as the records' `entity_summary`: case and possessive variants are one entity
("Zelenskyy", "ZELENSKYY" and "Zelenskyy's"). Its surname rule ("Macron" joining "Emmanuel Macron") is
not applied: it depends on the other names of one article, while the report counts across articles.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pipeline.commands.avro_folder import avro_files, read_files
from transforms.ner.entity_summary import entity_form
from transforms.ner.entity_summary import entity_key as name_key

NO_TOPIC = "(no topic)"
KEY_ENTITIES_PER_ARTICLE = 5
RISING_MIN_MENTIONS = 2

# Fields the report reads; everything else (notably `text`) is dropped while loading to save memory.
_KEEP = (
    "id",
    "source",
    "url",
    "title",
    "published_at",
    "ingested_at",
    "entities",
    "topics",
    "topic_labels",
    "entity_summary",
    "language",
)


class ReportError(Exception):
    """A problem with the input that ends the command with a one-line error (as does AvroFolderError)."""


# ----------------------------------------------------------------------------------------------------
# Loading


def load_articles(input_dir: Path) -> tuple[list[dict], list[Path]]:
    """All article records under input_dir (only the fields the report uses) and the files read."""
    files = avro_files(input_dir, "articles", required=False)
    return [{k: rec[k] for k in _KEEP if k in rec} for rec in read_files(files)], files


def load_dead_letter_stages(input_dir: Path) -> tuple[Counter, list[Path]]:
    """Dead-letter counts by stage under input_dir, and the files read."""
    files = avro_files(input_dir, "deadletter", required=False)
    return Counter(str(rec.get("stage", "?")) for rec in read_files(files)), files


# ----------------------------------------------------------------------------------------------------
# Computation: plain functions returning data


def _as_datetime(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):  # epoch millis, when read without logical types
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    return None


def article_datetime(rec: dict) -> datetime | None:
    """published_at, falling back to ingested_at (UTC)."""
    dt = _as_datetime(rec.get("published_at")) or _as_datetime(rec.get("ingested_at"))
    return dt.astimezone(timezone.utc) if dt else None


def article_day(rec: dict) -> date | None:
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
    """{day: articles} (day of published_at, else of ingested_at; UTC); undated articles are left out."""
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
    """Entities are counted by (normalised name, label): case, possessive and whitespace variants are one
    key ("Zelenskyy's" and "Zelenskyy"); an empty name means no entity."""
    return name_key(str(e.get("text", ""))), str(e.get("label", ""))


def display_names(records: Iterable[dict]) -> dict[tuple[str, str], str]:
    """{entity key: the name shown for it}: its most frequent written form over all records, without the
    possessive and with whitespace collapsed (ties: the form seen first)."""
    forms: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for rec in records:
        for e in rec.get("entities") or []:
            forms[entity_key(e)][" ".join(entity_form(str(e.get("text", ""))).split())] += 1
    return {key: c.most_common(1)[0][0] for key, c in forms.items()}  # most_common keeps first-seen order


@dataclass
class EntityStat:
    text: str
    label: str
    mentions: int  # mentions in the articles considered
    articles: int  # articles that mention it at least once


def _entity_stats(records: Iterable[dict], names: dict[tuple[str, str], str]) -> list[EntityStat]:
    mentions: Counter = Counter()
    articles: Counter = Counter()
    for rec in records:
        keys = [entity_key(e) for e in rec.get("entities") or []]
        mentions.update(keys)
        articles.update(set(keys))
    stats = [EntityStat(names[key], key[1], n, articles[key]) for key, n in mentions.items() if key[0]]
    stats.sort(key=lambda s: (-s.mentions, -s.articles, s.text, s.label))
    return stats


def top_entities(records: list[dict], top: int) -> list[EntityStat]:
    """The `top` entities of all articles by mentions (ties: articles, then name)."""
    return _entity_stats(records, display_names(records))[:top]


def top_entities_per_topic(records: list[dict], topics: list[str], top: int) -> dict[str, list[EntityStat]]:
    """For each topic with articles: its `top` entities by mentions within the articles labelled with it."""
    names = display_names(records)
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        for t in _labels(rec):
            by_topic[t].append(rec)
    return {t: _entity_stats(by_topic[t], names)[:top] for t in topics if by_topic.get(t)}


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
    start: date | None
    split: date | None  # first day of the second half
    end: date | None
    first_articles: int
    second_articles: int
    entities: list[RisingEntity] = field(default_factory=list)

    @property
    def first_half_end(self) -> date | None:
        """Last day of the first half."""
        return self.split - timedelta(days=1) if self.split else None


RISING_RULE = (
    "The period runs from the first to the last article day (day of published_at, else of ingested_at, "
    "UTC). It is cut in two at its middle: the first half has the first ⌈days/2⌉ days, the second half "
    "the rest. For each entity (same name and label) the report counts its mentions in the articles of "
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
    names = display_names(r for _, r in days)
    rows = [
        RisingEntity(names[key], key[1], first[key], n)
        for key, n in second.items()
        if key[0] and n >= min_mentions and n > first[key]
    ]
    rows.sort(key=lambda r: (-r.change, -r.second, r.text, r.label))
    return Rising(start, split, end, first_articles, second_articles, rows[:top])


def key_entities(
    rec: dict, k: int = KEY_ENTITIES_PER_ARTICLE, names: dict[tuple[str, str], str] | None = None
) -> list[tuple[str, str, int]]:
    """The article's k most mentioned entities as (name, label, mentions); ties by first appearance.
    Names come from `names` (display_names of all records) or else from this article alone."""
    names = names if names is not None else display_names([rec])
    c: Counter = Counter(entity_key(e) for e in rec.get("entities") or [])
    ordered = sorted(((key, n) for key, n in c.items() if key[0]), key=lambda kv: -kv[1])  # stable
    return [(names[key], key[1], n) for key, n in ordered[:k]]


@dataclass
class ArticleRow:
    id: str
    day: date | None
    dated_by: str  # published_at | ingested_at
    title: str
    url: str | None
    source: str | None
    topics: list[str]
    key_entities: list[tuple[str, str, int]]
    language: str | None = None


def article_rows(records: list[dict]) -> list[ArticleRow]:
    """One row per article, newest first (undated last), ties by title and id."""
    names = display_names(records)
    rows = [
        ArticleRow(
            id=str(r.get("id", "")),
            day=article_day(r),
            dated_by="published_at" if r.get("published_at") is not None else "ingested_at",
            title=str(r.get("title", "")),
            url=r.get("url"),
            source=r.get("source"),
            topics=_labels(r),
            key_entities=key_entities(r, names=names),
            language=r.get("language"),
        )
        for r in records
    ]
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
    articles_per_day: Counter  # day -> articles (the "articles" column of the daily counts)
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


def compute(
    records: list[dict],
    *,
    dead_letters: Counter | None = None,
    top: int = 10,
    input_dir: str = "",
    article_files: int = 0,
    dead_letter_files: int = 0,
) -> ReportData:
    """Every number the report shows."""
    taxonomy = topic_order(records)
    totals = topic_totals(records)
    topics = taxonomy + ([NO_TOPIC] if totals.get(NO_TOPIC) else [])
    volume = topic_volume_per_day(records)
    cooc_topics = [t for t in taxonomy if totals.get(t)]
    return ReportData(
        input_dir=input_dir,
        article_files=article_files,
        dead_letter_files=dead_letter_files,
        n_articles=len(records),
        dead_letters=dead_letters or Counter(),
        topics=topics,
        totals=totals,
        volume=volume,
        articles_per_day=articles_per_day(records),
        bins=bin_volume(volume, topics),
        cooc_topics=cooc_topics,
        cooc=cooccurrence(records, cooc_topics),
        top_overall=top_entities(records, top),
        top_per_topic=top_entities_per_topic(records, taxonomy, top),
        rising=rising_entities(records, top),
        articles=article_rows(records),
        top=top,
        has_language=any(r.get("language") for r in records),
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
