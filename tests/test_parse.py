import json

import pytest

from transforms.article import RawUnit
from transforms.parse import (
    InvalidArticle,
    detect_format,
    normalise_text,
    parse_date,
    parse_unit,
    read_units,
    stable_id,
)


def unit(data, fmt="jsonl", line=1, truncated=False):
    return RawUnit("in.jsonl", line, data if isinstance(data, bytes) else data.encode(), fmt, truncated)


def test_jsonl_fields_and_extra():
    a = parse_unit(
        unit(
            json.dumps(
                {
                    "id": 7,
                    "title": " A  title\n",
                    "text": "Body\r\nline two",
                    "date": "2025-05-21T21:42:44+00:00",
                    "url": "https://x/y",
                    "publisher": "Kyiv Independent",
                    "tags": ["a", "b"],
                    "lang": "en",
                }
            )
        )
    )
    assert (a.id, a.title, a.text, a.source, a.url) == (
        "7",
        "A title",
        "Body\nline two",
        "Kyiv Independent",
        "https://x/y",
    )
    assert a.published_at == 1747863764000
    assert a.extra == {"tags": '["a", "b"]', "lang": "en"}
    assert a.source_line == 1


def test_stable_ids():
    assert stable_id("x", "u", "t", "b") == "x"
    assert stable_id(None, "https://a", "t", "b") == stable_id(None, "https://a", "other", "body")
    assert stable_id(None, None, "t", "b").startswith("content-")
    assert stable_id(None, None, "t", "b") != stable_id(None, None, "t", "c")


def test_seed_format(tmp_path):
    p = tmp_path / "seed.txt"
    p.write_bytes(b" date 2025-07-27 President informed\n\nFrance is ready.\n")
    units = list(read_units(str(p), "auto", lambda path: open(path, "rb"), 1 << 20))
    assert len(units) == 1 and units[0].format == "seed" and units[0].line is None
    a = parse_unit(units[0])
    assert (a.title, a.text) == ("President informed", "France is ready.")
    assert a.published_at == 1753574400000


def test_plain_text_first_line_is_title():
    a = parse_unit(unit("Title line\nThe body.", fmt="text"))
    assert (a.title, a.text) == ("Title line", "The body.")


def test_detect_format():
    assert detect_format("a.jsonl", b"") == "jsonl"
    assert detect_format("a.txt", b'{"text": "x"}\n') == "jsonl"
    assert detect_format("a.txt", b"date 2025-01-01 T\nbody") == "seed"
    assert detect_format("a.txt", b"Just a title\nbody") == "text"


def test_normalisation_nfc_controls_whitespace():
    assert normalise_text("Cafe\u0301\x00 \t x\u00a0y\r\n\r\n\r\nz  ") == "Caf\u00e9 x y\n\nz"


@pytest.mark.parametrize(
    "data,why",
    [
        (b"{not json", "Expecting"),
        (b"[1, 2]", "must be an object"),
        (b'{"title": "no text"}', "'text' is missing"),
        (b'{"text": 5}', "must be a string"),
        (b'{"text": "  \\n "}', "empty"),
        (b'{"text": "x", "id": {"a": 1}}', "'id'"),
        (b'{"text": "x", "title": ["a"]}', "'title'"),
    ],
)
def test_invalid_jsonl(data, why):
    with pytest.raises(ValueError, match=why):
        parse_unit(unit(data))


def test_invalid_utf8_is_an_error_not_mojibake():
    with pytest.raises(UnicodeDecodeError):
        parse_unit(unit(b'{"text": "caf\xe9"}'))


def test_truncated_unit_is_an_error():
    with pytest.raises(InvalidArticle, match="max-article-bytes"):
        parse_unit(unit(b'{"text": "x"}', truncated=True))


def test_read_units_jsonl_lines_and_caps(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "a"}\r\n\n   \n{"text": "' + b"b" * 100 + b'"}\n{"text": "c"}')
    units = list(read_units(str(p), "auto", lambda path: open(path, "rb"), 50))
    assert [u.line for u in units] == [1, 4, 5]
    assert [u.truncated for u in units] == [False, True, False]
    assert units[0].data == b'{"text": "a"}' and len(units[1].data) == 50


def test_unparseable_date_is_kept_in_extra():
    a = parse_unit(unit('{"text": "x", "date": "yesterday"}'))
    assert a.published_at is None and a.extra["unparsed_date"] == "yesterday"
    assert parse_date("2025-01-02") == 1735776000000
