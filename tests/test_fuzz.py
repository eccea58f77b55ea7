"""Property-based fuzzing (hypothesis) of reading, parsing and the whole pipeline."""

from __future__ import annotations

import io
import json
import os
import tempfile
import unicodedata
from pathlib import Path

import fastavro
from conftest import read_avro, run_pipeline
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import schemas
from transforms.article import Article, RawUnit
from transforms.parse import parse_unit, read_units
from transforms.records import Provenance, to_record

# what _ParseFn turns into a dead letter; anything else escaping parse_unit would crash a bundle
PARSE_ERRORS = (ValueError, UnicodeDecodeError, RecursionError, TypeError)
PROVENANCE = Provenance("fuzz", "ner", "topics", "tax")
MIN_MS, MAX_MS = -62135596800000, 253402300799999

# NEWS_INGEST_FUZZ_SCALE=20 pytest tests/test_fuzz.py: a deeper (slower) search, same properties
SCALE = int(os.environ.get("NEWS_INGEST_FUZZ_SCALE", "1"))
FAST = settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# --- strategies --------------------------------------------------------------------------------

# any code point, lone surrogates included (json.dumps(ensure_ascii=True) writes them as \udXXX escapes)
any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
nasty_text = st.one_of(
    st.text(any_char, max_size=40),
    st.text(
        st.sampled_from(list(" \t\r\n\x00\x0b\x1f\x7f\x85\u00a0\u200b\u2028\ufeffaé\u0301日👍\ud800")), max_size=20
    ),
    st.sampled_from(["", " ", "Kyiv", "e\u0301", "NaN", "1e400", "2025-01-01", "9999-12-31T23:59:59-05:00"]),
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
json_value = st.recursive(
    json_scalar,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(nasty_text, kids, max_size=4)),
    max_leaves=12,
)
FIELDS = ["id", "title", "text", "date", "published_at", "url", "source", "publisher"]
article_obj = st.dictionaries(st.one_of(st.sampled_from(FIELDS), nasty_text), json_value, max_size=8)
article_obj_with_text = st.builds(lambda d, t: {**d, "text": t}, article_obj, st.one_of(nasty_text, json_value))


def check_article(a: Article) -> None:
    """What every parsed article must satisfy to be enriched and written as Avro."""
    assert isinstance(a, Article)
    assert a.text and a.text.strip() and unicodedata.is_normalized("NFC", a.text)
    assert "\r" not in a.text and "\x00" not in a.text
    for s in [a.id, a.title, a.text, *(x for x in (a.url, a.source, a.language) if x), *a.extra, *a.extra.values()]:
        assert isinstance(s, str)
        s.encode("utf-8")  # no lone surrogates: Avro strings are UTF-8
    assert a.published_at is None or MIN_MS <= a.published_at <= MAX_MS
    # the record is schema-valid, writes, and reads back (with logical types) as written
    record = to_record(a, PROVENANCE, [], now_ms=0)
    buf = io.BytesIO()
    fastavro.writer(buf, schemas.parsed(schemas.ENRICHED_ARTICLE), [record], validator=True)
    buf.seek(0)
    (back,) = list(fastavro.reader(buf))
    assert back["text"] == a.text and back["id"] == a.id


def parse_or_dead_letter(unit: RawUnit) -> None:
    try:
        article = parse_unit(unit)
    except PARSE_ERRORS:
        return
    check_article(article)


# --- (a) parse_unit ----------------------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=300), fmt=st.sampled_from(["jsonl", "seed", "text"]), truncated=st.booleans())
def test_parse_unit_on_arbitrary_bytes(data, fmt, truncated):
    parse_or_dead_letter(RawUnit("f", 1, data, fmt, truncated))


@FAST
@given(value=st.one_of(json_value, article_obj, article_obj_with_text), ascii_only=st.booleans(), bom=st.booleans())
def test_parse_unit_on_arbitrary_json(value, ascii_only, bom):
    try:
        data = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    except ValueError:  # e.g. an int too long to print
        assume(False)
    parse_or_dead_letter(RawUnit("f.jsonl", 3, (b"\xef\xbb\xbf" if bom else b"") + data, "jsonl"))


@FAST
@given(
    title=nasty_text,
    body=nasty_text,
    date=st.sampled_from(["2025-01-01", "0000-00-00", "9999-12-31"]),
    fmt=st.sampled_from(["seed", "text"]),
)
def test_parse_unit_on_text_files(title, body, date, fmt):
    head = f"date {date} {title}" if fmt == "seed" else title
    parse_or_dead_letter(RawUnit("f.txt", None, f"{head}\n{body}".encode("utf-8", "surrogatepass"), fmt))


# --- (b) read_units ----------------------------------------------------------------------------


def _expected_jsonl_units(data: bytes, max_bytes: int) -> list[tuple[int, bytes, bool]]:
    out = []
    for i, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if line.strip():
            out.append((i, line[:max_bytes], len(line) > max_bytes))
    return out


# lines are mostly short; some are long enough to cross read_units' 4 KiB head and 64 KiB chunks
line_bytes = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda b, n: (b or b"x") * n, st.binary(max_size=8), st.integers(500, 40_000)),
)
file_bytes = st.builds(
    lambda lines, seps: b"".join(l + s for l, s in zip(lines, seps)),
    st.lists(line_bytes, max_size=12),
    st.lists(st.sampled_from([b"\n", b"\r\n", b"", b"\n\n", b"\r"]), min_size=12, max_size=12),
)


@settings(max_examples=150 * SCALE, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=file_bytes,
    max_bytes=st.one_of(st.integers(1, 64), st.just(5 << 20), st.integers(4000, 70_000)),
    fmt=st.sampled_from(["jsonl", "auto"]),
)
def test_read_units_accounts_for_every_non_blank_line(data, max_bytes, fmt):
    units = list(read_units("in.jsonl", fmt, lambda _p: io.BytesIO(data), max_bytes))
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):  # UTF-16/32: one whole-file unit
        assert [(u.line, u.data, u.truncated) for u in units] == [(None, data[:max_bytes], len(data) > max_bytes)]
        return
    assert [(u.line, u.data, u.truncated) for u in units] == _expected_jsonl_units(data, max_bytes)
    assert all(u.format == "jsonl" and u.source_file == "in.jsonl" for u in units)


@settings(max_examples=100 * SCALE, deadline=None, database=None)
@given(data=st.binary(max_size=9000), max_bytes=st.integers(1, 10_000), fmt=st.sampled_from(["text", "seed"]))
def test_read_units_whole_file_formats(data, max_bytes, fmt):
    units = list(read_units("in.txt", fmt, lambda _p: io.BytesIO(data), max_bytes))
    assert [(u.line, u.data, u.truncated, u.format) for u in units] == [
        (None, data[:max_bytes], len(data) > max_bytes, fmt)
    ]


# --- (c) the whole pipeline --------------------------------------------------------------------

good_article = st.builds(
    lambda i, t, extra: json.dumps({"id": f"g{i}", "text": t, **extra}, ensure_ascii=False),
    st.integers(0, 10**6),
    st.sampled_from(
        [
            "Drones attacked Odesa overnight.",
            "Der Bundestag stimmte zu.",
            "Мирні переговори тривають.",
            "東京で会議。",
            "🚀 launch",
            "NABU charged an official.",
        ]
    ),
    st.dictionaries(st.sampled_from(["title", "date", "url", "tags"]), json_scalar, max_size=2),
)
jsonl_line = st.one_of(  # bytes of one line (no newline); blank ones are not units
    good_article.map(lambda s: s.encode("utf-8", "surrogatepass")),  # a lone surrogate -> invalid UTF-8
    st.builds(lambda v: json.dumps(v, ensure_ascii=True).encode(), st.one_of(article_obj_with_text, json_value)),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([b"", b"   ", b"\r", b"\x00"]),
)


@settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(jsonl_line, min_size=1, max_size=25))
def test_pipeline_every_non_blank_line_is_one_record_or_dead_letter(lines, tiny_ner):
    payload = b"\n".join(lines)
    expected = {i for i, line in enumerate(payload.split(b"\n"), start=1) if line.rstrip(b"\r").strip()}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "in.jsonl").write_bytes(payload)
        out = Path(tmp) / "out"
        assert run_pipeline(["--input", f"{tmp}/in.jsonl", "--output", str(out), "--ner-model", str(tiny_ner)]) == 0
        records, dead = read_avro(str(out / "articles-*.avro")), read_avro(str(out / "deadletter-*.avro"))
    got = sorted([r["source_line"] for r in records] + [d["source_line"] for d in dead])
    assert got == sorted(expected)
