"""Reading input files into RawUnits and parsing RawUnits into Articles (or dead letters).

Formats, detected per file (or forced with --format):
* ``jsonl``: one JSON object per line; ``text`` required; ``id``, ``title``, ``date``/``published_at``,
  ``url``, ``source``/``publisher`` optional; other fields are kept in ``extra`` as JSON strings.
  Blank lines are not articles and are skipped.
* ``seed``: first line ``date YYYY-MM-DD <title>``, then the body.
* ``text``: first line is the title, the rest is the body.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timezone

import apache_beam as beam

from transforms import dead_letter as dl
from transforms import language
from transforms.article import Article, RawUnit, content_hash

_SEED_FIRST_LINE = re.compile(r"^date (\d{4}-\d{2}-\d{2})(?: (.*))?$")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz")
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")  # UTF-32-LE starts with FF FE too
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # a JSON \uD800-\uDFFF escape
# Epoch milliseconds that Avro timestamp-millis readers (fastavro, avro) can turn into a datetime:
# 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z. Outside, a reader fails on the whole file.
_MIN_MS, _MAX_MS = -62135596800000, 253402300799999


def detect_format(path: str, head: bytes) -> str:
    if path.lower().endswith(_JSONL_SUFFIXES):
        return "jsonl"
    first = head.split(b"\n", 1)[0].lstrip(b"\xef\xbb\xbf")
    if _SEED_FIRST_LINE.match(first.decode("utf-8", "replace").strip()):
        return "seed"
    if first.lstrip().startswith(b"{"):
        return "jsonl"
    return "text"


def read_units(path: str, fmt: str, open_fn, max_bytes: int) -> Iterator[RawUnit]:
    """Stream the units of one file; never holds more than one unit (capped at max_bytes+1) in memory.

    A file that starts with a UTF-16/UTF-32 byte order mark is one unit whatever its format (its
    "lines" are not UTF-8 lines; parsing turns it into one dead letter that says so)."""
    with open_fn(path) as fh:
        head = fh.read(4096)
        if fmt == "auto":
            fmt = detect_format(path, head)
        if fmt != "jsonl" or head.startswith(_UTF16_32_BOMS):
            rest = fh.read(max_bytes + 1 - len(head)) if len(head) <= max_bytes else b""
            data = head + rest
            yield RawUnit(path, None, data[:max_bytes], fmt, truncated=len(data) > max_bytes)
            return
        lineno = 0
        pending = head
        while True:
            nl = pending.find(b"\n")
            while nl < 0:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                if len(pending) > max_bytes:  # an oversized line: keep the cap, skip to its end
                    pending = pending[: max_bytes + 1]
                pending += chunk
                nl = pending.find(b"\n")
            if nl < 0:
                line, pending = pending, b""
            else:
                line, pending = pending[:nl], pending[nl + 1 :]
            lineno += 1
            if nl < 0 and not line:
                return
            line = line.rstrip(b"\r")
            if line.strip():
                yield RawUnit(path, lineno, line[:max_bytes], "jsonl", truncated=len(line) > max_bytes)
            if nl < 0:
                return


# --- normalisation -------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\ufeff\u2028\u2029]")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalise_text(s: str) -> str:
    """NFC, \\n line endings, no control characters, single spaces, at most one blank line."""
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = _CONTROL.sub("", s)
    s = _SPACES.sub(" ", s)
    s = "\n".join(line.strip() for line in s.split("\n"))
    # NFC last: removing a control character can bring a base letter and a combining mark together
    return unicodedata.normalize("NFC", _BLANK_LINES.sub("\n\n", s).strip())


def normalise_title(s: str) -> str:
    return " ".join(normalise_text(s).split())


def stable_id(given, url: str | None, title: str, text: str) -> str:
    if given not in (None, ""):
        return str(given)
    if url:
        return "url-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return "content-" + content_hash(title, text)[:16]


def parse_date(value) -> int | None:
    """ISO 8601 date or datetime (naive = UTC) or epoch seconds -> epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"bad date {value!r}")
    if isinstance(value, (int, float)):
        ms = int(float(value) * 1000)
    elif isinstance(value, str):
        v = value.strip().replace("Z", "+00:00")
        dt = datetime.fromisoformat(v)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        ms = int(dt.timestamp() * 1000)
    else:
        raise ValueError(f"bad date {value!r}")
    if not _MIN_MS <= ms <= _MAX_MS:
        raise ValueError(f"date {value!r} is outside the years 1..9999")
    return ms


class InvalidArticle(ValueError):
    pass


_KNOWN = {"id", "title", "text", "date", "published_at", "url", "source", "publisher"}


def _optional_str(obj: dict, *keys: str) -> str | None:
    for k in keys:
        v = obj.get(k)
        if v is None:
            continue
        if isinstance(v, (dict, list, bool)):
            raise InvalidArticle(f"field {k!r} must be a string, got {type(v).__name__}")
        return normalise_title(str(v)) or None
    return None


def parse_unit(unit: RawUnit) -> Article:
    """RawUnit -> Article; raises InvalidArticle (or a decoding error) for bad input."""
    if unit.data.startswith(_UTF16_32_BOMS):
        raise InvalidArticle(
            "input is UTF-16 or UTF-32 (it starts with a byte order mark); only UTF-8 is "
            "read: convert it, e.g. iconv -f UTF-16 -t UTF-8"
        )
    if unit.truncated:
        raise InvalidArticle("input unit is larger than the --max-article-bytes limit; raw bytes are truncated")
    raw = unit.data.decode("utf-8")  # strict: invalid UTF-8 is a dead letter, not mojibake
    raw = raw.lstrip("\ufeff")
    extra: dict[str, str] = {}
    if unit.format == "jsonl":
        obj = json.loads(raw)
        if _SURROGATE_ESCAPE.search(raw):
            try:  # a lone surrogate escape decodes to a str that cannot be written as UTF-8 (Avro)
                json.dumps(obj, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as e:
                raise InvalidArticle(
                    f"a JSON string escapes a lone surrogate ({e.object[e.start : e.end]!a}): not valid Unicode"
                ) from e
        if not isinstance(obj, dict):
            raise InvalidArticle(f"a JSONL line must be an object, got {type(obj).__name__}")
        text = obj.get("text")
        if not isinstance(text, str):
            raise InvalidArticle(
                "field 'text' is missing"
                if text is None
                else f"field 'text' must be a string, got {type(text).__name__}"
            )
        title = _optional_str(obj, "title") or ""
        url = _optional_str(obj, "url")
        source = _optional_str(obj, "source", "publisher")
        date_value = obj.get("published_at", obj.get("date"))
        given_id = obj.get("id")
        if isinstance(given_id, (dict, list, bool, float)):
            raise InvalidArticle(f"field 'id' must be a string or integer, got {type(given_id).__name__}")
        extra = {
            k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in obj.items() if k not in _KNOWN
        }
    else:
        lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n", 1)
        first, body = lines[0].strip(), lines[1] if len(lines) > 1 else ""
        date_value, url, source, given_id = None, None, None, None
        m = _SEED_FIRST_LINE.match(first) if unit.format == "seed" else None
        if unit.format == "seed" and not m:
            raise InvalidArticle("seed format needs a first line 'date YYYY-MM-DD <title>'")
        if m:
            date_value, title = m.group(1), m.group(2) or ""
        else:
            title = first
        if not body.strip():
            title, text = "", first if not m else ""
        else:
            text = body
        title = normalise_title(title)
    try:
        published = parse_date(date_value)
    except (ValueError, OverflowError, OSError):
        published = None
        extra["unparsed_date"] = str(date_value)
    text = normalise_text(text)
    if not text:
        raise InvalidArticle("article text is empty after normalisation")
    return Article(
        id=stable_id(given_id, url, title, text)[:512],
        title=title,
        text=text,
        source=source,
        url=url,
        published_at=published,
        extra=extra,
        source_file=unit.source_file,
        source_line=unit.line,
        raw=unit.data,
        language=language.detect_language(title, text),
    )


class ParseArticles(beam.PTransform):
    """RawUnit -> Article (main output) | dead letter dict (tag ``dead_letter``)."""

    def expand(self, units):
        # Where the pipeline runs in this process (the local runner), the identifier then loads while
        # the runner starts; a remote worker starts loading it at setup (after its models: Beam sets
        # up a stage's DoFns from the last to the first).
        language.preload()
        return units | "Parse" >> beam.ParDo(_ParseFn()).with_outputs(dl.DEAD_LETTER, main="articles")


class _ParseFn(beam.DoFn):
    def setup(self):
        language.preload()

    def process(self, unit: RawUnit):
        try:
            yield parse_unit(unit)
        except (ValueError, UnicodeDecodeError, RecursionError, TypeError) as e:
            yield dl.tagged(dl.from_unit(dl.PARSE, e, unit))
