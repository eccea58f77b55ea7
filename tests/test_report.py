"""`news-ingest report`: numbers against the Avro records, escaping, and a real headless browser.

The browser check needs Debian's `chromium` package (apt-get install -y chromium). Without it the
browser tests are skipped locally and fail under CI (CI=true), so a missing install step shows.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from html.parser import HTMLParser
from pathlib import Path

import avro_fixtures as af
import pytest

from pipeline.commands import report
from pipeline.commands.report import data as report_data
from pipeline.commands.report import page as report_page

TOP = 8
N_ARTICLES = 40  # every article of tests/fixtures/written_articles.jsonl


# ----------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    """N_ARTICLES articles (+ one hostile record), 3 undated, in streaming-window subfolders, 3 dead letters."""
    out = tmp_path_factory.mktemp("out")
    af.write_output_dir(out, af.make_records(N_ARTICLES, hostile=True, undated=3), dead=3, shards=2, windows=True)
    return out


@pytest.fixture(scope="module")
def records(out_dir) -> list[dict]:
    return af.read_records(out_dir)  # straight from the Avro files, full records


@pytest.fixture(scope="module")
def built(out_dir, tmp_path_factory):
    html_path = tmp_path_factory.mktemp("report") / "report.html"
    assert report.main(["--input", str(out_dir), "--output", str(html_path), "--top", str(TOP)]) == 0
    return html_path, html_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tables(built) -> dict:
    p = _Tables()
    p.feed(built[1])
    return p.tables


class _Tables(HTMLParser):
    """Collects every <table id=...>: {"attrs": {...}, "rows": [(row attrs, [cell text, ...]), ...]}."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict] = {}
        self._table = None
        self._row = None
        self._cell = None
        self._links: list = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = {"attrs": a, "rows": [], "links": []}
            self.tables[a.get("id", f"table-{len(self.tables)}")] = self._table
        elif tag == "tr" and self._table is not None:
            self._row = (a, [])
            self._table["rows"].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a" and self._table is not None:
            self._table["links"].append(a.get("href"))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row[1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def body(table) -> list[list[str]]:
    """Data rows (those with a <td>) of a parsed table."""
    return [cells for attrs, cells in table["rows"]][1:]


# ----------------------------------------------------------------------------------------------------
# Independent counting straight from the records (not through pipeline.commands.report)


def day_of(rec):
    return (rec["published_at"] or rec["ingested_at"]).date()


def labels_of(rec):
    return list(dict.fromkeys(rec["topic_labels"])) or [report_data.NO_TOPIC]


def entity_counts(recs):
    mentions, articles = Counter(), Counter()
    for r in recs:
        keys = [(" ".join(e["text"].split()), e["label"]) for e in r["entities"]]
        mentions.update(keys)
        articles.update(set(keys))
    return mentions, articles


# ----------------------------------------------------------------------------------------------------
# Computation


def test_fixture_records_are_consistent(records):
    assert len(records) == N_ARTICLES + 1
    for r in records:
        for e in r["entities"]:
            assert r[e["field"]][e["start"] : e["end"]] == e["text"]


def test_topic_totals_and_volume_match_records(records):
    totals = report_data.topic_totals(records)
    expected = Counter(t for r in records for t in labels_of(r))
    assert totals == expected
    volume = report_data.topic_volume_per_day(records)
    exp_volume = defaultdict(Counter)
    for r in records:
        exp_volume[day_of(r)].update(labels_of(r))
    assert volume == dict(exp_volume)
    # undated records fall back to ingested_at
    assert af.INGESTED_AT.date() in volume
    bins = report_data.bin_volume(volume, report_data.topic_order(records) + [report_data.NO_TOPIC])
    assert {t: sum(v) for t, v in bins.counts.items() if sum(v)} == dict(expected)
    assert bins.unit == "month"  # 2021-10 .. 2025-06


def test_bin_units():
    from datetime import date

    one = {date(2024, 1, 1): Counter(a=1), date(2024, 1, 20): Counter(a=2, b=1)}
    b = report_data.bin_volume(one, ["a", "b"])
    assert b.unit == "day" and len(b.starts) == 20 and sum(b.counts["a"]) == 3
    two = {date(2024, 1, 3): Counter(a=1), date(2024, 6, 1): Counter(a=1)}
    b = report_data.bin_volume(two, ["a"])
    assert b.unit == "week" and b.starts[0] == date(2024, 1, 1) and all(s.weekday() == 0 for s in b.starts)


def test_cooccurrence_matches_records(records):
    topics = report_data.topic_order(records)
    m = report_data.cooccurrence(records, topics)
    for i, a in enumerate(topics):
        for j, b in enumerate(topics):
            assert m[i][j] == sum(1 for r in records if a in r["topic_labels"] and b in r["topic_labels"])
            assert m[i][j] == m[j][i]


def test_top_entities_per_topic_match_records(records):
    topics = report_data.topic_order(records)
    per_topic = report_data.top_entities_per_topic(records, topics, TOP)
    assert per_topic
    for t, stats in per_topic.items():
        mentions, articles = entity_counts([r for r in records if t in r["topic_labels"]])
        assert len(stats) == min(TOP, len(mentions))
        for s in stats:
            assert s.mentions == mentions[(s.text, s.label)]
            assert s.articles == articles[(s.text, s.label)]
        # nothing left out mentions more than the last one shown
        shown = {(s.text, s.label) for s in stats}
        assert all(n <= stats[-1].mentions for k, n in mentions.items() if k not in shown)


def test_rising_entities_rule(records):
    r = report_data.rising_entities(records, TOP)
    days = sorted(day_of(x) for x in records)
    assert r.start == days[0] and r.end == days[-1]
    n_days = (r.end - r.start).days + 1
    assert (r.split - r.start).days == (n_days + 1) // 2
    first = [x for x in records if day_of(x) < r.split]
    second = [x for x in records if day_of(x) >= r.split]
    assert (r.first_articles, r.second_articles) == (len(first), len(second))
    m1, _ = entity_counts(first)
    m2, _ = entity_counts(second)
    for e in r.entities:
        assert (e.first, e.second) == (m1[(e.text, e.label)], m2[(e.text, e.label)])
        assert e.second > e.first and e.second >= report_data.RISING_MIN_MENTIONS


def test_rising_handcrafted():
    from datetime import datetime, timezone

    def rec(day, *ents):
        return {
            "published_at": datetime(2024, 1, day, tzinfo=timezone.utc),
            "ingested_at": None,
            "entities": [{"text": t, "label": "ORG"} for t in ents],
        }

    recs = [rec(1, "A", "A", "B"), rec(2, "B"), rec(3, "A", "C", "C"), rec(4, "C", "B", "B", "B")]
    r = report_data.rising_entities(recs, 10)
    # 4 days: first half = days 1-2, second half = days 3-4
    assert r.split.day == 3 and (r.first_articles, r.second_articles) == (2, 2)
    assert [(e.text, e.first, e.second) for e in r.entities] == [("C", 0, 3), ("B", 2, 3)]
    single = report_data.rising_entities([rec(1, "A")], 10)
    assert single.split is None and single.entities == []


# ----------------------------------------------------------------------------------------------------
# HTML content


def test_summary_table(tables, records):
    summary = {c[0]: c[1] for _, c in tables["summary-table"]["rows"]}
    assert int(summary["articles"]) == len(records) == N_ARTICLES + 1
    assert int(summary["article files"]) == 2
    assert int(summary["days with articles"]) == len({day_of(r) for r in records})
    assert {c[0]: int(c[1]) for c in body(tables["deadletter-table"])} == {"parse": 3}


def test_dead_letters_counted_from_files(out_dir, tables):
    dead = af.read_records(out_dir, "deadletter-*.avro")
    summary = {c[0]: c[1] for _, c in tables["summary-table"]["rows"]}
    assert int(summary["dead letters"]) == len(dead)


def test_topic_tables_match_records(tables, records):
    expected = Counter(t for r in records for t in labels_of(r))
    got = {c[0]: int(c[1]) for c in body(tables["topic-totals"])}
    assert {k: v for k, v in got.items() if v} == dict(expected)

    # daily counts: header = day, articles, topics...
    header = tables["volume-table"]["rows"][0][1]
    topics = header[2:]
    per_day = Counter(day_of(r).isoformat() for r in records)
    by_day = defaultdict(Counter)
    for r in records:
        by_day[day_of(r).isoformat()].update(labels_of(r))
    rows = body(tables["volume-table"])
    assert len(rows) == len(per_day)
    for cells in rows:
        assert int(cells[1]) == per_day[cells[0]]
        assert {t: int(v) for t, v in zip(topics, cells[2:]) if int(v)} == dict(by_day[cells[0]])


def test_cooccurrence_table_matches_records(tables, records):
    rows = tables["cooccurrence-table"]["rows"]
    topics = rows[0][1][1:]
    assert topics
    for _, cells in rows[1:]:
        a = cells[0]
        for b, v in zip(topics, cells[1:]):
            assert int(v) == sum(1 for r in records if a in r["topic_labels"] and b in r["topic_labels"])


def test_entity_tables_match_records(tables, records):
    mentions, articles = entity_counts(records)
    rows = body(tables["entities-all"])
    assert len(rows) == TOP
    for text, label, m, a in rows:
        assert (int(m), int(a)) == (mentions[(text, label)], articles[(text, label)])
    assert int(rows[0][2]) == max(mentions.values())
    per_topic = [t for k, t in tables.items() if k.startswith("entities-topic-")]
    assert len(per_topic) == len(
        [t for t in report_data.topic_order(records) if any(t in r["topic_labels"] for r in records)]
    )
    for table in per_topic:
        topic = table["attrs"]["data-topic"]
        m_t, a_t = entity_counts([r for r in records if topic in r["topic_labels"]])
        for text, label, m, a in body(table):
            assert (int(m), int(a)) == (m_t[(text, label)], a_t[(text, label)])


def test_rising_table_matches_records(tables, records):
    r = report_data.rising_entities(records, TOP)
    first = [x for x in records if day_of(x) < r.split]
    second = [x for x in records if day_of(x) >= r.split]
    m1, _ = entity_counts(first)
    m2, _ = entity_counts(second)
    rows = body(tables["rising-table"])
    assert rows, "fixture should have rising entities (undated records land in 2025)"
    for text, label, f, s, change in rows:
        assert (int(f), int(s)) == (m1[(text, label)], m2[(text, label)])
        assert int(change) == int(s) - int(f) > 0


def test_article_table(tables, records, built):
    rows = tables["articles"]["rows"][1:]
    assert len(rows) == len(records)
    by_id = {r["id"]: r for r in records}
    assert {a["data-id"] for a, _ in rows} == set(by_id)
    for attrs, cells in rows:
        r = by_id[attrs["data-id"]]
        assert cells[0].rstrip("*") == day_of(r).isoformat()
        assert cells[0].endswith("*") == (r["published_at"] is None)
        assert cells[1] == r["title"]
    # every http(s) url is linked, nothing else is
    links = set(tables["articles"]["links"])
    assert {r["url"] for r in records if r["url"].startswith("http")} == links
    # newest first
    days = [c[0].rstrip("*") for _, c in rows]
    assert days == sorted(days, reverse=True)


def test_page_is_self_contained_and_escaped(built):
    _, h = built
    low = h.lower()
    assert "<script" not in low  # the report needs none; hostile titles are escaped
    assert "javascript:" not in " ".join(re.findall(r'href="([^"]*)"', h)).lower()
    # nothing loaded from outside: every src is a data: URI, no <link>, no @import/url()
    assert all(s.startswith("data:image/png;base64,") for s in re.findall(r'\ssrc="([^"]*)"', h))
    assert "<link" not in low and "@import" not in low and "url(" not in low
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in h
    assert 'http-equiv="Content-Security-Policy"' in h


def _png_images(h: str) -> dict[str, bytes]:
    return {
        m.group(1): base64.b64decode(m.group(2))
        for m in re.finditer(r'<img id="([^"]+)"[^>]*src="data:image/png;base64,([^"]+)"', h)
    }


def test_figures_are_not_blank(built):
    import matplotlib.image as mpimg

    pngs = _png_images(built[1])
    assert set(pngs) == {"fig-topic-volume", "fig-cooccurrence", "fig-rising"}
    for name, data in pngs.items():
        img = mpimg.imread(io.BytesIO(data), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 100, name
        rgb = img[..., :3]
        assert rgb.std() > 0.05, f"{name} looks blank (std {rgb.std():.4f})"
        # a good share of pixels differ from the background (white)
        assert (rgb.min(axis=2) < 0.9).mean() > 0.02, name


def test_extended_schema_and_language(tmp_path):
    """Files written with the planned compatible additions (entity_summary, language) still report."""
    out = af.write_output_dir(tmp_path / "out", af.make_records(20, extended=True), dead=0, extended=True)
    assert report.main(["--input", str(out), "--output", str(tmp_path / "r.html")]) == 0
    p = _Tables()
    p.feed((tmp_path / "r.html").read_text())
    assert p.tables["articles"]["rows"][0][1][3] == "language"
    assert all(c[3] == "en" for _, c in p.tables["articles"]["rows"][1:])


def test_cli_errors(tmp_path, capsys):
    assert report.main(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "r.html")]) == 2
    (tmp_path / "empty").mkdir()
    assert report.main(["--input", str(tmp_path / "empty"), "--output", str(tmp_path / "r.html")]) == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "articles-00000-of-00001.avro").write_bytes(b"not avro at all")
    assert report.main(["--input", str(bad), "--output", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("news-ingest report: error: ") for line in err)
    assert not (tmp_path / "r.html").exists()


# ----------------------------------------------------------------------------------------------------
# Headless browser (Debian chromium)


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        if os.environ.get("CI"):
            pytest.fail("chromium not installed (Debian package: chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return exe


def run_chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--mute-audio",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2400",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


# Inserted into a *copy* of the page, whose CSP is relaxed to allow inline scripts: it records errors
# (including failed resource loads) and writes the result into document.title after load. With scripts
# allowed, an unescaped hostile title would run and set window.__pwned.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || 'error'));
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  document.title = 'PROBE:' + JSON.stringify({
    images: imgs.length,
    loaded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    widths: imgs.map(function (i) { return i.naturalWidth; }),
    errors: window.__errors,
    pwned: !!window.__pwned || document.body.hasAttribute('data-pwned'),
    rows: document.querySelectorAll('#articles tbody tr').length
  });
});
</script>"""


def test_browser_loads_page_without_errors(built, tmp_path):
    html_path, h = built
    # 1. The page as shipped: no console output at all (CSP violations, JS errors, failed loads are
    #    logged there), and a screenshot that is not blank.
    shot = tmp_path / "shot.png"
    res = run_chromium(html_path, tmp_path, f"--screenshot={shot}")
    assert res.returncode == 0, res.stderr[-2000:]
    assert console_lines(res.stderr) == []
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)[..., :3]
    assert img.shape[0] >= 1000 and img.std() > 0.05

    # 2. A copy with the probe: every <img> decoded, no error events, hostile markup inert.
    csp = re.compile(r'(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(">)')
    probe_html, n = csp.subn(
        lambda m: m.group(1) + m.group(2) + "; script-src &#x27;unsafe-inline&#x27;" + m.group(3), h
    )
    assert n == 1
    probe_html = probe_html.replace('<meta charset="utf-8">', '<meta charset="utf-8">' + PROBE, 1)
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(probe_html, encoding="utf-8")
    res = run_chromium(probe_page, tmp_path, "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    assert console_lines(res.stderr) == []
    m = re.search(r"<title>PROBE:(.*?)</title>", res.stdout, re.S)
    assert m, "probe did not run: " + res.stdout[:500]
    import html as htmlmod

    result = json.loads(htmlmod.unescape(m.group(1)))
    assert result["images"] == 3 and result["loaded"] == 3, result
    assert all(w > 100 for w in result["widths"]), result
    assert result["errors"] == [], result
    assert result["pwned"] is False
    assert result["rows"] == N_ARTICLES + 1


def test_safe_href():
    assert report_page.safe_href("https://example.org/a?b=1&c=2") == "https://example.org/a?b=1&amp;c=2"
    assert report_page.safe_href('http://x.org/"><script>') == "http://x.org/&quot;&gt;&lt;script&gt;"
    for bad in (
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,<b>",
        "//evil.org/x",
        "http:///nohost",
        "https://a.org/x y",
        "https://a.org/\nx",
        None,
        "",
        "vbscript:x",
    ):
        assert report_page.safe_href(bad) is None, bad


# ----------------------------------------------------------------------------------------------------
# Entity names and escaping, on hand-made records (no figures drawn)

FAKE_FIGURES = {f: "data:image/png;base64,AAAA" for f in ("fig-topic-volume", "fig-cooccurrence", "fig-rising")}


def _record(rid: str, day: int, title: str, *entities: str, label: str = "PER") -> dict:
    from datetime import datetime, timezone

    return {
        "id": rid,
        "title": title,
        "url": f"https://example.org/{rid}",
        "source": "s",
        "published_at": datetime(2024, 3, day, tzinfo=timezone.utc),
        "ingested_at": None,
        "topic_labels": ["politics"],
        "topics": [{"label": "politics", "score": 0.9}],
        "entities": [{"text": t, "label": label, "field": "text", "start": 0, "end": len(t)} for t in entities],
    }


def test_case_and_possessive_variants_are_one_entity():
    """The report merges names with transforms.ner.entity_summary's normalisation (as the records'
    entity_summary does): "Zelenskyy", "Zelenskyy's" and "ZELENSKYY" are one entity, shown in its most
    frequent written form."""
    recs = [
        _record("a", 1, "t1", "Zelenskyy", "Zelenskyy's", "Kyiv"),
        _record("b", 3, "t2", "ZELENSKYY", "Zelenskyy", "Zelenskyy’s"),
        _record("c", 4, "t3", "Zelenskyy's", "Zelenskyy's"),
    ]
    top = report_data.top_entities(recs, 10)
    assert [(s.text, s.mentions, s.articles) for s in top] == [("Zelenskyy", 7, 3), ("Kyiv", 1, 1)]
    assert report_data.key_entities(recs[1]) == [("Zelenskyy", "PER", 3)]
    rising = report_data.rising_entities(recs, 10)  # days 1-2 | days 3-4
    assert [(e.text, e.first, e.second) for e in rising.entities] == [("Zelenskyy", 2, 5)]
    # entity types stay apart, as in entity_summary
    org = _record("d", 3, "t4", "Zelenskyy", label="ORG")
    assert {(s.text, s.label) for s in report_data.top_entities(recs + [org], 10)} == {
        ("Zelenskyy", "PER"),
        ("Zelenskyy", "ORG"),
        ("Kyiv", "PER"),
    }
    h = report_page.render_html(report_data.compute(recs), FAKE_FIGURES)
    p = _Tables()
    p.feed(h)
    assert body(p.tables["entities-all"]) == [["Zelenskyy", "PER", "7", "3"], ["Kyiv", "PER", "1", "1"]]


def test_script_in_title_is_escaped():
    title = "Breaking <script>alert('x')</script> & <b>bold</b>"
    recs = [_record("<script>id</script>", 1, title, "<script>e</script>")]
    h = report_page.render_html(report_data.compute(recs), FAKE_FIGURES)
    assert "<script" not in h.lower() and "<b>" not in h
    assert "Breaking &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in h
    p = _Tables()
    p.feed(h)
    ((attrs, cells),) = p.tables["articles"]["rows"][1:]
    assert cells[1] == title and attrs["data-id"] == "<script>id</script>"  # shown as text, intact
    assert body(p.tables["entities-all"])[0][0] == "<script>e</script>"


def test_missing_report_extra_is_a_one_line_error(out_dir, tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jinja2" else find_spec(name, *a))
    assert report.main(["--input", str(out_dir), "--output", str(tmp_path / "r.html")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "news-ingest report: error: jinja2 not installed: pip install 'news-ingest[report]'"
    )
    assert not (tmp_path / "r.html").exists()
