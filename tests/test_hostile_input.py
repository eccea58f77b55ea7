"""A corpus of hostile input, generated here, run once through the real pipeline.

Invariant: every input unit (a non-blank JSONL line, or a whole text/seed file) ends as exactly one
enriched record or exactly one dead letter; a dead letter keeps the unit's raw bytes (flagged when a
cap cut them) and names the stage and the reason. Every unit states the one outcome it gets: a record,
or a dead letter of a given stage and error type. ``pytest -s`` prints the counts per kind.
"""

from __future__ import annotations

import json
import random
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import avro.datafile
import avro.io
import pytest
from conftest import read_avro, run_pipeline
from fastavro.validation import validate_many

import schemas
from transforms.ner.handler import MAX_NER_CHARS

RECORD, DEAD = "record", "dead"  # DEAD: the column of the summary table only
STAGES = {"read", "parse", "validate", "ner", "topics", "record"}
MIB = 1 << 20
DEADLETTER_CAP = 1 * MIB  # --max-deadletter-bytes default


def dead(error_type: str) -> tuple[str, str]:
    """The outcome "one dead letter of stage parse with this error_type". Every hostile unit that fails,
    fails at parsing: the models read any text that parses (the long-word units are records)."""
    return ("parse", error_type)


UTF8, JSON, INVALID = dead("UnicodeDecodeError"), dead("JSONDecodeError"), dead("InvalidArticle")

LANG_TEXTS = {
    "en": "The government announced new measures on Tuesday to support farmers affected by the drought, "
    "officials said in a statement.",
    "fr": "Le gouvernement a annoncé mardi de nouvelles mesures pour soutenir les agriculteurs touchés par la "
    "sécheresse, selon un communiqué.",
    "ru": "Правительство во вторник объявило о новых мерах поддержки фермеров, пострадавших от засухи, "
    "говорится в заявлении.",
    "uk": "Уряд у вівторок оголосив про нові заходи підтримки фермерів, які постраждали від посухи, йдеться в заяві.",
    "de": "Die Regierung hat am Dienstag neue Maßnahmen zur Unterstützung der von der Dürre betroffenen "
    "Landwirte angekündigt.",
    "ja": "東京で新しい政策が発表された。政府は火曜日に声明を出した。",
    "ar": "أعلنت الحكومة يوم الثلاثاء عن إجراءات جديدة لدعم المزارعين المتضررين من الجفاف",
}


@dataclass
class Unit:
    kind: str
    file: str
    line: int | None  # None: a whole-file unit
    raw: bytes  # the unit's bytes as the reader yields them
    expect: str | tuple[str, str]  # RECORD, or the dead letter's (stage, error_type)
    note: str = ""


@dataclass
class Corpus:
    root: Path
    units: list[Unit] = field(default_factory=list)

    def jsonl(self, kind: str, name: str, entries: list, terminators: list[bytes] | None = None) -> None:
        """entries: (line bytes or str or dict, expect[, note]) or None for a blank line (not a unit)."""
        out, lineno = [], 0
        terminators = terminators or [b"\n"] * len(entries)
        for entry, term in zip(entries, terminators):
            lineno += 1
            if entry is None:
                out.append(b"  " + term)
                continue
            data, expect, *note = entry
            if isinstance(data, dict):
                data = json.dumps(data, ensure_ascii=False)
            if isinstance(data, str):
                data = data.encode("utf-8")
            assert b"\n" not in data
            out.append(data + term)
            self.units.append(Unit(kind, name, lineno, data.rstrip(b"\r"), expect, note[0] if note else ""))
        (self.root / name).write_bytes(b"".join(out))

    def whole(self, kind: str, name: str, data: bytes, expect: str, note: str = "") -> None:
        (self.root / name).write_bytes(data)
        self.units.append(Unit(kind, name, None, data, expect, note))


def build_corpus(root: Path) -> Corpus:
    c = Corpus(root)
    rnd = random.Random(6)

    # random bytes: 30 JSONL lines of random non-newline bytes, and a whole binary file
    lines = []
    for _ in range(30):
        b = bytes(rnd.choice([x for x in range(256) if x != 10]) for _ in range(rnd.randint(1, 300)))
        lines.append((b"\x80" + b, UTF8))  # 0x80 first: never valid UTF-8, never blank
    c.jsonl("random_bytes", "random_bytes.jsonl", lines)
    c.whole("random_bytes", "random_bytes.bin", b"\xff\x00" + rnd.randbytes(8192), UTF8)

    c.jsonl(
        "invalid_utf8",
        "invalid_utf8.jsonl",
        [
            (b'{"text": "caf\xe9 latin-1"}', UTF8),
            (b'{"text": "overlong \xc0\xaf slash"}', UTF8),
            (b'{"text": "utf-8 encoded surrogate \xed\xa0\x80"}', UTF8),
            (b'{"text": "truncated sequence \xe2\x82"}', UTF8),
            (b'{"text": "\xf8\x88\x80\x80\x80 five-byte form"}', UTF8),
            ('{"text": "valid neighbour: caf\u00e9"}', RECORD),
        ],
    )
    c.whole("invalid_utf8", "invalid_utf8.txt", b"Title\nBody with a cp1252 quote \x93here\x94.", UTF8)

    # lone surrogates written as JSON escapes decode to str that cannot be encoded as UTF-8
    c.jsonl(
        "surrogate_escape",
        "surrogate_escape.jsonl",
        [
            (rb'{"text": "lone \ud800 high surrogate"}', INVALID),
            (rb'{"text": "fine text", "title": "\udc00"}', INVALID),
            (rb'{"text": "fine text", "comment": "extra field \udfff"}', INVALID),
            (rb'{"text": "fine text", "\ud800key": 1}', INVALID),
            (rb'{"text": "fine text", "date": "2025-01-01\ud800"}', INVALID),
            (rb'{"text": "a valid pair \ud83d\ude00 is an emoji"}', RECORD),
        ],
    )

    bom = b"\xef\xbb\xbf"
    c.jsonl(
        "bom",
        "bom_utf8.jsonl",
        [
            (bom + b'{"id": "bom-1", "text": "A UTF-8 byte order mark starts this file."}', RECORD, "bom-first"),
            ('{"id": "bom-2", "text": "Second line, no mark."}', RECORD),
        ],
    )
    c.whole("bom", "bom_utf8.txt", bom + b"A titled text\nThe body of a text file with a BOM.", RECORD, "bom-text")
    c.whole("bom", "utf16.txt", "A title\nA UTF-16 body.".encode("utf-16"), INVALID, "utf16")
    utf16_jsonl = "\n".join(json.dumps({"text": f"UTF-16 line {i}"}) for i in range(3)).encode("utf-16")
    c.whole("bom", "utf16.jsonl", utf16_jsonl, INVALID, "utf16")

    c.jsonl(
        "control_chars",
        "control.jsonl",
        [
            (r'{"id": "ctl-1", "text": "a\u0000b\u0007c\u001bd\u007fe\u0085f"}', RECORD, "ctl-clean"),
            (b'{"text": "raw NUL \x00 inside a JSON string"}', JSON),
            (b'{"text": "trailing NUL after the object"}\x00', JSON),
            (r'{"text": "\u0000\u0001\u0002\u200b\ufeff"}', INVALID),  # empty once control characters go
            (b"\x00\x00\x00\x00", JSON),
        ],
    )
    c.whole("control_chars", "control.txt", b"Title\x00 with NUL\nBody \x01with\x7f control\x1b chars\x0c.", RECORD)

    c.jsonl(
        "empty_whitespace",
        "empty.jsonl",
        [
            ('{"text": ""}', INVALID),
            ('{"text": "   \\n\\t  \\r\\n "}', INVALID),
            ('{"title": "Only a title", "text": "\\u00a0\\u2003\\u3000"}', INVALID),
            None,  # a whitespace-only line is not a unit
            ('{"text": "\\u200b\\u2028\\u2029"}', INVALID),
        ],
    )
    c.whole("empty_whitespace", "empty.txt", b"", INVALID)
    c.whole("empty_whitespace", "whitespace.txt", b" \t\r\n\n  \n", INVALID)

    # 20 MB: over the 5 MiB --max-article-bytes default, both as a JSONL line and as a text file
    big_text = ("Kyiv " * (20 * MIB // 5)).strip()
    big_line = json.dumps({"id": "huge", "text": big_text}).encode()
    c.jsonl(
        "huge_20mb", "huge.jsonl", [(big_line, INVALID, "huge"), ('{"id": "after-huge", "text": "Small."}', RECORD)]
    )
    c.whole("huge_20mb", "huge.txt", b"Huge title\n" + big_text.encode(), INVALID, "huge")

    # a 1 MB "word" (no spaces): below the cap, a record whose NER stops at its reading limit
    word = ("Zelenskyy" * (MIB // 9 + 1))[:MIB]
    c.jsonl("long_word_1mb", "long_word.jsonl", [({"id": "word", "text": word}, RECORD, "long-word")])
    # CJK has no spaces either; every ideograph is a token (300 KB: ~100k tokens, ~400 NER windows)
    cjk = "無空白\n".encode() + ("東京政府発表" * 17_000).encode()
    c.whole("long_word_1mb", "long_cjk.txt", cjk, RECORD, "long-word")

    c.jsonl(
        "deep_nesting",
        "nested.jsonl",
        [
            (b"[" * 100_000, dead("RecursionError"), "recursion"),
            (b'{"a": ' * 100_000, dead("RecursionError"), "recursion"),
            (b'{"text": "ok", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", dead("RecursionError"), "recursion"),
            ({"id": "shallow-nest", "text": "Moderately nested extra.", "deep": [[[[[[["x"]]]]]]]}, RECORD),
        ],
    )

    c.jsonl(
        "wrong_types",
        "wrong_types.jsonl",
        [
            ('{"text": 42}', INVALID),
            ('{"text": ["a", "b"]}', INVALID),
            ('{"text": {"body": "x"}}', INVALID),
            ('{"text": true}', INVALID),
            ('{"text": "ok", "title": {"t": 1}}', INVALID),
            ('{"text": "ok", "title": ["x"]}', INVALID),
            ('{"text": "ok", "id": 1.5}', INVALID),
            ('{"text": "ok", "id": ["x"]}', INVALID),
            ('{"text": "ok", "id": false}', INVALID),
            ('{"text": "ok", "url": ["http://x"]}', INVALID),
            ('[{"text": "an array of articles"}]', INVALID),
            ('"a string"', INVALID),
            ("12345", INVALID),
            ("null", INVALID),
            ("true", INVALID),
            ('{"id": 7, "text": "integer id and numeric title", "title": 2025, "source": 12}', RECORD, "int-id"),
            ('{"text": "date as a list", "date": [2025, 1, 1]}', RECORD, "unparsed-date"),
            ('{"text": "date as bool", "date": true}', RECORD, "unparsed-date"),
            ('{"text": "date NaN", "date": NaN}', RECORD, "unparsed-date"),
            ('{"text": "date Infinity", "date": Infinity}', RECORD, "unparsed-date"),
            ('{"text": "date past year 9999", "date": 1e13}', RECORD, "unparsed-date"),
            ('{"text": "date before year 1", "date": -1e12}', RECORD, "unparsed-date"),
            ('{"text": "date far out", "date": 1e300}', RECORD, "unparsed-date"),
            ('{"text": "offset pushes past 9999", "date": "9999-12-31T23:30:00-01:00"}', RECORD, "unparsed-date"),
            ('{"text": "offset pushes before year 1", "date": "0001-01-01T00:10:00+01:00"}', RECORD, "unparsed-date"),
            ('{"text": "nonsense date", "date": "yesterday-ish"}', RECORD, "unparsed-date"),
            # Python's 4300-digit limit on int() from a string, raised inside json.loads
            ('{"text": "huge integer", "n": ' + "9" * 5000 + "}", dead("ValueError")),
        ],
    )

    c.jsonl(
        "missing_null",
        "missing_null.jsonl",
        [
            ("{}", INVALID),
            ('{"title": "no text"}', INVALID),
            ('{"text": null}', INVALID),
            (
                '{"id": null, "title": null, "text": "All optional fields null.", "date": null, "url": null, '
                '"source": null, "publisher": null}',
                RECORD,
                "nulls",
            ),
            ('{"text": "Only a text field."}', RECORD),
        ],
    )

    c.jsonl(
        "duplicate_ids",
        "duplicates.jsonl",
        [
            ('{"id": "dup-1", "text": "First version of the story."}', RECORD),
            ('{"id": "dup-1", "text": "Second, corrected version of the story."}', RECORD),
            ('{"id": "dup-2", "text": "Exactly the same line twice."}', RECORD),
            ('{"id": "dup-2", "text": "Exactly the same line twice."}', RECORD),
            ('{"text": "No id, same content twice."}', RECORD),
            ('{"text": "No id, same content twice."}', RECORD),
        ],
    )

    c.jsonl(
        "line_endings",
        "line_endings.jsonl",
        [
            ('{"id": "le-1", "text": "CRLF line.\\r\\nWith CRLF inside too."}', RECORD),
            ('{"id": "le-2", "text": "LF line."}', RECORD),
            None,
            ('{"id": "le-3", "text": "After a blank CRLF line."}', RECORD),
            # a lone CR is not a line break in JSONL: these two objects are one unit (and one dead letter)
            ('{"id": "le-4", "text": "first"}\r{"id": "le-5", "text": "second"}', JSON, "lone-cr"),
            ('{"id": "le-6", "text": "Last line, no newline at end of file."}', RECORD),
        ],
        terminators=[b"\r\n", b"\n", b"\r\n", b"\n", b"\r\n", b""],
    )
    c.whole(
        "line_endings",
        "line_endings.txt",
        b"Mixed endings title\r\nline one\rline two\nline three\r\n",
        RECORD,
        "mixed-text",
    )

    c.jsonl(
        "unicode_cjk_rtl_emoji",
        "unicode.jsonl",
        [
            (
                {"id": "cjk", "text": "東京で新しい政策が発表された。中国外交部发言人表示。한국 정부는 발표했다."},
                RECORD,
            ),
            (
                {
                    "id": "rtl",
                    "title": "\u202eevil override\u202c",
                    "text": "أعلنت الحكومة \u200fיום שלישי\u200e about Kyiv.",
                },
                RECORD,
            ),
            ({"id": "emoji", "text": "Flags 🇺🇦🇫🇷, family 👨‍👩‍👧‍👦, thumbs 👍🏽 in Kyiv 🚀."}, RECORD),
            ({"id": "nfd", "text": "Cafe\u0301 in Montre\u0301al and Zu\u0308rich."}, RECORD, "nfd"),
            (
                {"id": "zalgo", "text": "Z\u0338\u0322\u031ba\u0337l\u0336g\u0335o " + "e\u0301\u0302\u0303" * 200},
                RECORD,
            ),
            ({"id": "emoji-only", "text": "🚀🚀🚀 👍🏽"}, RECORD),
            ({"id": "separators", "text": "Para one.\u2028Para two.\u2029Para three."}, RECORD),
        ],
    )

    c.jsonl(
        "non_english",
        "languages.jsonl",
        [({"id": f"lang-{code}", "text": text}, RECORD, f"lang:{code}") for code, text in LANG_TEXTS.items()],
    )
    c.whole(
        "non_english", "seed_ukrainian.txt", ("date 2025-03-01 Новини\n" + LANG_TEXTS["uk"]).encode(), RECORD, "lang:uk"
    )
    c.whole(
        "non_english", "seed_bad_date.txt", b"date 2025-13-45 Bad calendar date\nBody text.", RECORD, "unparsed-date"
    )
    return c


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, tiny_ner):
    root = tmp_path_factory.mktemp("hostile")
    inp, out = root / "in", root / "out"
    inp.mkdir()
    corpus = build_corpus(inp)
    started = time.time()
    rc = run_pipeline(
        ["--input", str(inp / "*"), "--output", str(out), "--ner-model", str(tiny_ner), "--model-threads", "1"]
    )
    wall = time.time() - started
    assert rc == 0
    records = read_avro(str(out / "articles-*.avro"))
    dead = read_avro(str(out / "deadletter-*.avro"))
    return corpus, records, dead, out, wall


def _key(file: str, line):
    return Path(file).name, line


def test_every_unit_is_exactly_one_record_or_one_dead_letter(hostile_run):
    corpus, records, dead, _, wall = hostile_run
    units = {_key(u.file, u.line): u for u in corpus.units}
    assert len(units) == len(corpus.units)  # constructed keys are unique
    seen = Counter(
        [_key(r["source_file"], r["source_line"]) for r in records]
        + [_key(d["source_file"], d["source_line"]) for d in dead]
    )
    assert {k: n for k, n in seen.items() if n != 1} == {}, "a unit produced more than one output"
    assert set(seen) == set(units), f"missing: {set(units) - set(seen)}; unexpected: {set(seen) - set(units)}"
    assert len(records) + len(dead) == len(corpus.units)

    outcome = {_key(r["source_file"], r["source_line"]): RECORD for r in records}
    outcome.update({_key(d["source_file"], d["source_line"]): (d["stage"], d["error_type"]) for d in dead})
    wrong = {k: (u.expect, outcome[k]) for k, u in units.items() if outcome[k] != u.expect}
    assert wrong == {}

    table = defaultdict(lambda: Counter())
    for k, u in units.items():
        table[u.kind]["units"] += 1
        table[u.kind][RECORD if outcome[k] == RECORD else DEAD] += 1
    stages = defaultdict(Counter)
    for d in dead:
        stages[units[_key(d["source_file"], d["source_line"])].kind][f"{d['stage']}:{d['error_type']}"] += 1
    print(f"\n{'kind':24} {'units':>5} {'records':>7} {'dead':>5}  dead letters by stage:error")
    for kind in dict.fromkeys(u.kind for u in corpus.units):
        t = table[kind]
        print(
            f"{kind:24} {t['units']:5} {t[RECORD]:7} {t[DEAD]:5}  "
            + ", ".join(f"{s} x{n}" for s, n in sorted(stages[kind].items()))
        )
    print(f"{'total':24} {len(units):5} {len(records):7} {len(dead):5}  (pipeline wall {wall:.1f} s)")


def test_dead_letters_keep_raw_bytes_and_name_stage_and_reason(hostile_run):
    corpus, _, dead, _, _ = hostile_run
    units = {_key(u.file, u.line): u for u in corpus.units}
    assert validate_many(dead, schemas.parsed("dead_letter"))
    for d in dead:
        u = units[_key(d["source_file"], d["source_line"])]
        assert d["stage"] in STAGES and d["error_type"] and d["error_message"].strip()
        if len(u.raw) > DEADLETTER_CAP:
            assert d["raw_truncated"] is True and d["raw"] == u.raw[:DEADLETTER_CAP], u.kind
        else:
            assert d["raw"] == u.raw, (u.kind, u.line)
            assert d["raw_truncated"] is (u.note == "huge")
        if u.note == "huge":
            assert d["stage"] == "parse" and "max-article-bytes" in d["error_message"]
            assert d["raw_truncated"] is True and len(d["raw"]) == DEADLETTER_CAP
        if u.note == "recursion":
            assert d["error_message"].startswith("maximum recursion depth exceeded"), d["error_message"]
        if u.note == "utf16":
            assert "UTF-16" in d["error_message"]


def test_records_are_clean(hostile_run):
    corpus, records, _, _, _ = hostile_run
    units = {_key(u.file, u.line): u for u in corpus.units}
    assert validate_many(records, schemas.parsed("enriched_article"))
    for r in records:
        u = units[_key(r["source_file"], r["source_line"])]
        for f in ("title", "text"):
            assert unicodedata.is_normalized("NFC", r[f]) and "\r" not in r[f] and "\x00" not in r[f]
            r[f].encode("utf-8")
        assert r["text"].strip()
        for e in r["entities"]:
            assert r[e["field"]][e["start"] : e["end"]] == e["text"]
        if u.note.startswith("lang:"):
            assert r["language"] == u.note[5:], (u.note, r["language"])
        if u.note == "unparsed-date":
            assert r["published_at"] is None and "unparsed_date" in r["extra"], r["id"]
    by_id = Counter(r["id"] for r in records)
    assert by_id["dup-1"] == 2 and by_id["dup-2"] == 2  # duplicate ids are both kept (no dedup)
    nf = [r for r in records if r["source_file"].endswith("duplicates.jsonl") and r["id"].startswith("content-")]
    assert len(nf) == 2 and nf[0]["id"] == nf[1]["id"]  # same content, same derived id, two records
    rec = {r["id"]: r for r in records}
    assert rec["bom-1"]["text"].startswith("A UTF-8")
    bom_txt = next(r for r in records if r["source_file"].endswith("bom_utf8.txt"))
    assert bom_txt["title"] == "A titled text"
    assert rec["ctl-1"]["text"] == "abcdef"
    assert rec["nfd"]["text"] == "Caf\u00e9 in Montr\u00e9al and Z\u00fcrich."
    assert rec["7"]["title"] == "2025" and rec["7"]["source"] == "12"
    mixed = next(r for r in records if r["source_file"].endswith("line_endings.txt"))
    assert (mixed["title"], mixed["text"]) == ("Mixed endings title", "line one\nline two\nline three")
    assert rec["le-1"]["text"] == "CRLF line.\nWith CRLF inside too."
    assert rec["lang-en"]["language"] == "en"


def test_long_words_are_records_read_by_ner_up_to_its_limit(hostile_run):
    """A text without whitespace is kept whole; NER reads its first MAX_NER_CHARS characters (no word
    boundary to cut at) and the record says where it stopped."""
    corpus, records, _, _, wall = hostile_run
    units = {_key(u.file, u.line): u for u in corpus.units}
    long_words = {
        Path(r["source_file"]).name: r
        for r in records
        if units[_key(r["source_file"], r["source_line"])].note == "long-word"
    }
    assert {name: len(r["text"]) for name, r in long_words.items()} == {
        "long_word.jsonl": MIB,
        "long_cjk.txt": 6 * 17_000,
    }
    assert {name: r["ner_truncated_at"] for name, r in long_words.items()} == {
        "long_word.jsonl": MAX_NER_CHARS,
        "long_cjk.txt": MAX_NER_CHARS,
    }
    assert wall < 150, f"whole hostile corpus took {wall:.0f} s"


def test_output_readable_by_the_official_avro_package(hostile_run):
    corpus, records, dead, out, _ = hostile_run
    n = 0
    for f in sorted(out.glob("*.avro")):
        with avro.datafile.DataFileReader(open(f, "rb"), avro.io.DatumReader()) as reader:
            n += sum(1 for _ in reader)
    assert n == len(records) + len(dead) == len(corpus.units)
