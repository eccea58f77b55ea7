"""The Beam steps between reading and writing, each alone in a TestPipeline: ParseArticles, EnrichWith
(with a small in-test handler), ToRecords, and the dead-letter cap. Every input ends as exactly one
output or exactly one dead letter: each test checks that count as well as what comes out."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from fastavro.validation import validate

import schemas
from pipeline.graph import cap_raw
from transforms import dead_letter as dl
from transforms.article import Article, Entity, RawUnit
from transforms.enrich import EnrichWith
from transforms.inference.handler import ArticleModelHandler
from transforms.inference.settings import InferenceSettings
from transforms.parse import ParseArticles
from transforms.records import Provenance, ToRecords


def dead_summary(d: dict) -> tuple:
    """A dead letter without its time: (source_file, source_line, stage, error_type, article_id, raw)."""
    return d["source_file"], d["source_line"], d["stage"], d["error_type"], d["article_id"], d["raw"]


def count(pcoll, label: str):
    return pcoll | f"Count{label}" >> beam.combiners.Count.Globally()


# --- ParseArticles -----------------------------------------------------------------------------------

JSONL = (
    b'{"id": "a1", "title": "Kyiv talks", "text": "Delegations met in Kyiv on Monday.", '
    b'"date": "2025-03-01T10:00:00Z", "url": "https://news.example/a1", "publisher": "News Example", '
    b'"section": "world"}'
)
SEED = b"date 2025-07-27 A seed title\nThe body of the seed article."
TEXT = b"Plain title\nPlain body text, two lines.\r\nSecond line."
BAD_JSON = b'{"text": "unterminated'
BAD_UTF8 = b'{"text": "caf\xe9"}'
NO_TEXT = b'{"title": "no text"}'


def test_parse_articles_turns_each_unit_into_one_article_or_one_dead_letter():
    units = [
        RawUnit("in.jsonl", 1, JSONL, "jsonl"),
        RawUnit("seed.txt", None, SEED, "seed"),
        RawUnit("plain.txt", None, TEXT, "text"),
        RawUnit("in.jsonl", 2, BAD_JSON, "jsonl"),
        RawUnit("in.jsonl", 3, BAD_UTF8, "jsonl"),
        RawUnit("in.jsonl", 4, NO_TEXT, "jsonl"),
    ]
    # (source, line, id, title, text, source, url, published_at ms, extra): the id of an article without
    # an id or URL is derived from its content; the seed's date line gives its date and title
    articles = [
        (
            "in.jsonl",
            1,
            "a1",
            "Kyiv talks",
            "Delegations met in Kyiv on Monday.",
            "News Example",
            "https://news.example/a1",
            1740823200000,
            {"section": "world"},
        ),
        (
            "seed.txt",
            None,
            "content-424a6c13b639a4b5",
            "A seed title",
            "The body of the seed article.",
            None,
            None,
            1753574400000,
            {},
        ),
        (
            "plain.txt",
            None,
            "content-f4234ba9feae7756",
            "Plain title",
            "Plain body text, two lines.\nSecond line.",
            None,
            None,
            None,
            {},
        ),
    ]
    dead = [
        ("in.jsonl", 2, dl.PARSE, "JSONDecodeError", None, BAD_JSON),
        ("in.jsonl", 3, dl.PARSE, "UnicodeDecodeError", None, BAD_UTF8),
        ("in.jsonl", 4, dl.PARSE, "InvalidArticle", None, NO_TEXT),
    ]

    def fields(a: Article) -> tuple:
        return a.source_file, a.source_line, a.id, a.title, a.text, a.source, a.url, a.published_at, dict(a.extra)

    with TestPipeline() as p:
        out = p | beam.Create(units) | ParseArticles()
        assert_that(out["articles"] | "Fields" >> beam.Map(fields), equal_to(articles), label="Articles")
        assert_that(out[dl.DEAD_LETTER] | "Dead" >> beam.Map(dead_summary), equal_to(dead), label="DeadLetters")
        both = (out["articles"], out[dl.DEAD_LETTER]) | beam.Flatten()
        assert_that(count(both, "All"), equal_to([len(units)]), label="OneOutputPerUnit")


def test_parsed_articles_keep_their_raw_bytes():
    """An article carries its unit's bytes, so that a later stage's dead letter can keep them."""
    with TestPipeline() as p:
        out = p | beam.Create([RawUnit("in.jsonl", 7, JSONL, "jsonl")]) | ParseArticles()
        assert_that(out["articles"] | beam.Map(lambda a: a.raw), equal_to([JSONL]))


# --- EnrichWith ----------------------------------------------------------------------------------------

POISON = "XX-POISON-XX"  # predict raises for any batch holding this
BAD_MERGE = "XX-BAD-MERGE-XX"  # merge raises for this article's result


class TextLengthHandler(ArticleModelHandler):
    """A model without weights: an article's result is its text length, written into ``extra``."""

    metrics_namespace = "test_text_length"

    def load_model(self):
        return len

    def predict(self, model, articles):
        if any(POISON in a.text for a in articles):
            raise ValueError("the model cannot read the poisoned article")
        return [model(a.text) for a in articles]

    def merge(self, article: Article, prediction) -> Article:
        if BAD_MERGE in article.text:
            raise KeyError("no place for this result")
        return dataclasses.replace(article, extra={**article.extra, "length": str(prediction)})


def _article(i: int, text: str) -> Article:
    return Article(id=f"a{i}", title="", text=text, raw=f"raw-{i}".encode(), source_file="in.jsonl", source_line=i)


def test_enrich_with_gives_each_article_its_result_or_one_dead_letter():
    texts = ["Kyiv.", "Two words.", f"Carries {POISON}.", "Third good one.", f"Merges {BAD_MERGE}."]
    articles = [_article(i, t) for i, t in enumerate(texts)]
    # a batch that holds the poisoned article fails and is retried one article at a time: only that one fails
    handler = TextLengthHandler(InferenceSettings(min_batch_size=5, max_batch_size=5))
    with TestPipeline() as p:
        out = p | beam.Create(articles) | EnrichWith(handler, dl.NER)
        assert_that(
            out["articles"] | "Lengths" >> beam.Map(lambda a: (a.id, a.extra["length"])),
            equal_to([("a0", "5"), ("a1", "10"), ("a3", "15")]),
            label="Results",
        )
        assert_that(
            out[dl.DEAD_LETTER] | "Dead" >> beam.Map(dead_summary),
            equal_to(
                [
                    ("in.jsonl", 2, dl.NER, "ValueError", "a2", b"raw-2"),
                    ("in.jsonl", 4, dl.NER, "KeyError", "a4", b"raw-4"),
                ]
            ),
            label="DeadLetters",
        )
        valid = out[dl.DEAD_LETTER] | "Valid" >> beam.Map(
            lambda d: validate(d, schemas.parsed(schemas.DEAD_LETTER), raise_errors=False)
        )
        assert_that(valid, equal_to([True, True]), label="SchemaValid")
        both = (out["articles"], out[dl.DEAD_LETTER]) | beam.Flatten()
        assert_that(count(both, "All"), equal_to([len(articles)]), label="OneOutputPerArticle")


# --- ToRecords -----------------------------------------------------------------------------------------

PROVENANCE = Provenance("9.9.9", "ner-test", "embedding:test", "test-taxonomy@1")
TOPIC_ORDER = ["air_defense", "drones"]


def test_to_records_writes_schema_valid_records_and_a_dead_letter_for_a_misfit():
    good = Article(
        id="a1",
        title="Kyiv",
        text="Air defense over Kyiv.",
        source="News Example",
        url="https://news.example/a1",
        published_at=1740823200000,
        extra={"section": "world"},
        source_file="in.jsonl",
        source_line=1,
        raw=b"{}",
        language="en",
        entities=[Entity("title", 0, 4, "Kyiv", "LOC", 0.9876543), Entity("text", 17, 21, "Kyiv", "LOC", 0.5)],
        topic_scores={"drones": 0.1234567, "air_defense": 0.9},
        topic_labels=["air_defense"],
    )
    # `extra` is a map of strings in the schema: an int there fails validation, before any sink
    misfit = dataclasses.replace(good, id="a2", source_line=2, raw=b"raw-2", extra={"count": 1})

    def without_time(record: dict) -> dict:
        assert isinstance(record["ingested_at"], int)
        return {k: v for k, v in record.items() if k != "ingested_at"}

    expected = {
        "id": "a1",
        "source": "News Example",
        "url": "https://news.example/a1",
        "title": "Kyiv",
        "text": "Air defense over Kyiv.",
        "published_at": 1740823200000,
        "content_hash": "a6d125856af9801bc1df3854316f1d60ca8d64c3c0acb7f61b94a569b55a8104",
        "source_file": "in.jsonl",
        "source_line": 1,
        "entities": [
            {"field": "title", "start": 0, "end": 4, "text": "Kyiv", "label": "LOC", "score": 0.987654},
            {"field": "text", "start": 17, "end": 21, "text": "Kyiv", "label": "LOC", "score": 0.5},
        ],
        # every topic of the taxonomy, in its order, scores rounded to 6 digits
        "topics": [{"label": "air_defense", "score": 0.9}, {"label": "drones", "score": 0.123457}],
        "topic_labels": ["air_defense"],
        "entity_summary": [{"text": "Kyiv", "label": "LOC", "mentions": 2, "first_field": "title", "first_start": 0}],
        "language": "en",
        "ner_truncated_at": None,
        "extra": {"section": "world"},
        "provenance": {
            "pipeline_version": "9.9.9",
            "ner_model": "ner-test",
            "topic_model": "embedding:test",
            "taxonomy_version": "test-taxonomy@1",
        },
    }
    with TestPipeline() as p:
        out = p | beam.Create([good, misfit]) | ToRecords(PROVENANCE, TOPIC_ORDER)
        assert_that(out["records"] | "Fields" >> beam.Map(without_time), equal_to([expected]), label="Records")
        valid = out["records"] | "Valid" >> beam.Map(
            lambda r: validate(r, schemas.parsed(schemas.ENRICHED_ARTICLE), raise_errors=False)
        )
        assert_that(valid, equal_to([True]), label="SchemaValid")
        assert_that(
            out[dl.DEAD_LETTER] | "Dead" >> beam.Map(dead_summary),
            equal_to([("in.jsonl", 2, dl.RECORD, "ValidationError", "a2", b"raw-2")]),
            label="DeadLetters",
        )


# --- the dead-letter cap -------------------------------------------------------------------------------


def test_dead_letters_keep_at_most_the_cap_of_raw_bytes():
    cap = 8

    def letter(raw: bytes, line: int, truncated: bool = False) -> dict:
        return dl.dead_letter(dl.PARSE, "bad", raw=raw, source_file="in", source_line=line, raw_truncated=truncated)

    letters = [
        letter(b"short", 1),
        letter(b"exactly8", 2),
        letter(b"nine byte", 3),
        letter(b"x" * 100, 4),
        letter(b"cut-by-reader", 5, truncated=True),  # the reader cut it already: stays flagged
        letter(b"tiny", 6, truncated=True),
    ]
    with TestPipeline() as p:
        capped = p | beam.Create(letters) | beam.Map(cap_raw, cap)
        assert_that(
            capped | beam.Map(lambda d: (d["source_line"], d["raw"], d["raw_truncated"])),
            equal_to(
                [
                    (1, b"short", False),
                    (2, b"exactly8", False),
                    (3, b"nine byt", True),
                    (4, b"x" * 8, True),
                    (5, b"cut-by-r", True),
                    (6, b"tiny", True),
                ]
            ),
        )
