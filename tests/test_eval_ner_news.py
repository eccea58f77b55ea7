"""`news-ingest eval-ner` on the news gold format (pipeline/commands/eval/news_gold.py): offsets mapped onto the
text the pipeline normalises, articles read as title + body, bad lines a clear error, and a real run of the
embedded model through the pipeline scored with its errors listed."""

from __future__ import annotations

import json

import pytest

from pipeline import cli
from pipeline.commands.eval.news_gold import GoldFormatError, Segment, as_articles, offset_map, read_segments
from transforms.parse import normalise_text


def write_gold(path, segments):
    path.write_text("".join(json.dumps(s) + "\n" for s in segments), encoding="utf-8")
    return path


def seg(sid, text, *names):
    """A segment whose entities are the first occurrence of each (name, type)."""
    return {
        "sid": sid,
        "article_id": sid.rsplit("-", 1)[0],
        "text": text,
        "entities": [[text.index(n), text.index(n) + len(n), t] for n, t in names],
    }


def test_offsets_follow_the_whitespace_the_pipeline_collapses():
    text = "  Talks in\tKyiv  and \n\n\n Lviv\x07 today "
    normalised = normalise_text(text)
    where = offset_map(text, normalised)
    for name in ("Kyiv", "Lviv"):
        s = text.index(name)
        assert normalised[where[s] : where[s + len(name) - 1] + 1] == name
    (article,) = as_articles(
        [Segment("a-1", "a", text, [(text.index("Kyiv"), text.index("Kyiv") + 4, "LOC")])], "segment"
    )
    ((field, s, e, t),) = article.spans
    assert (field, article.text[s:e], t) == ("text", "Kyiv", "LOC")


def test_an_article_is_its_title_and_its_other_segments_joined():
    segments = [
        Segment("n1-2", "n1", "NATO met in Brussels.", [(0, 4, "ORG"), (12, 20, "LOC")]),
        Segment("n1-0", "n1", "Zelenskyy  in   Brussels", [(0, 9, "PER"), (16, 24, "LOC")]),
        Segment("n1-1", "n1", "The EU agreed.", [(4, 6, "ORG")]),
    ]
    (article,) = as_articles(segments, "article")
    assert article.title == "Zelenskyy in Brussels"
    assert article.text == "The EU agreed. NATO met in Brussels."
    shown = {(f, (article.title if f == "title" else article.text)[s:e], t) for f, s, e, t in article.spans}
    assert shown == {
        ("title", "Zelenskyy", "PER"),
        ("title", "Brussels", "LOC"),
        ("text", "EU", "ORG"),
        ("text", "NATO", "ORG"),
        ("text", "Brussels", "LOC"),
    }


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"sid": "a-0", "text": "x"}', "not a gold segment"),
        ('{"sid": "a-0", "article_id": "a", "text": "Kyiv", "entities": [[0, 9, "LOC"]]}', "outside the text"),
        ("not json", "not a gold segment"),
    ],
)
def test_a_bad_gold_line_is_named(tmp_path, line, message, capsys):
    path = tmp_path / "gold.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(GoldFormatError, match=rf"gold.jsonl:1: .*{message}"):
        read_segments(path)
    assert cli.main(["eval-ner", "--data", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_the_embedded_model_is_scored_through_the_pipeline(tmp_path, capsys):
    gold = write_gold(
        tmp_path / "news.jsonl",
        [
            seg("a-0", "Zelenskyy Meets Macron in Paris", ("Zelenskyy", "PER"), ("Macron", "PER"), ("Paris", "LOC")),
            seg(
                "a-1",
                "French President Emmanuel Macron  hosted the talks.",
                ("French", "MISC"),
                ("Emmanuel Macron", "PER"),
            ),
            seg("a-2", "The European Union and NATO sent observers.", ("European Union", "ORG"), ("NATO", "ORG")),
            # a name the model does not know as such: the errors list must show it
            seg("b-1", "Officials of Zorbulon Vexingmark attended.", ("Zorbulon Vexingmark", "ORG")),
        ],
    )
    table_path = tmp_path / "table.json"
    rc = cli.main(["eval-ner", "--data", str(gold), "--errors", "50", "--json", str(table_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    table = json.loads(table_path.read_text())
    assert table["overall"]["support"] == 8
    assert "2 articles (news gold), 0 without a record" in out
    found = round(table["overall"]["recall"] * 8)
    listed = [line for line in out.splitlines() if " missed " in line]
    assert len(listed) == 8 - found  # every gold entity is found or listed as missed
    assert found >= 6, out  # the easy names in title and body
