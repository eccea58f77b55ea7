"""Articles -> Avro records of schemas/enriched_article.avsc (validated before they reach a sink)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import apache_beam as beam
from fastavro.validation import validate

import schemas
from transforms import dead_letter as dl
from transforms.article import Article, content_hash
from transforms.ner.entity_summary import summarise


@dataclass(frozen=True)
class Provenance:
    pipeline_version: str
    ner_model: str
    topic_model: str
    taxonomy_version: str


def to_record(article: Article, provenance: Provenance, topic_order: list[str], now_ms: int | None = None) -> dict:
    return {
        "id": article.id,
        "source": article.source,
        "url": article.url,
        "title": article.title,
        "text": article.text,
        "published_at": article.published_at,
        "ingested_at": now_ms if now_ms is not None else int(time.time() * 1000),
        "content_hash": content_hash(article.title, article.text),
        "source_file": article.source_file,
        "source_line": article.source_line,
        "entities": [
            {
                "field": e.field,
                "start": e.start,
                "end": e.end,
                "text": e.text,
                "label": e.label,
                "score": round(e.score, 6),
            }
            for e in article.entities
        ],
        "topics": [{"label": t, "score": round(float(article.topic_scores.get(t, 0.0)), 6)} for t in topic_order],
        "topic_labels": list(article.topic_labels),
        "entity_summary": summarise(article.entities),
        "language": article.language,
        "ner_truncated_at": article.ner_truncated_at,
        "extra": dict(article.extra),
        "provenance": provenance.__dict__.copy(),
    }


class ToRecords(beam.PTransform):
    """Article -> record dict (main) | dead letter (stage ``record``) when it does not fit the schema."""

    def __init__(self, provenance: Provenance, topic_order: list[str]):
        super().__init__()
        self.provenance, self.topic_order = provenance, topic_order

    def expand(self, articles):
        return articles | "ToRecord" >> beam.ParDo(_ToRecordFn(self.provenance, self.topic_order)).with_outputs(
            dl.DEAD_LETTER, main="records"
        )


class _ToRecordFn(beam.DoFn):
    def __init__(self, provenance, topic_order):
        self.provenance, self.topic_order = provenance, topic_order

    def setup(self):
        self.schema = schemas.parsed(schemas.ENRICHED_ARTICLE)

    def process(self, article: Article):
        try:
            record = to_record(article, self.provenance, self.topic_order)
            validate(record, self.schema, raise_errors=True)
            yield record
        except Exception as e:  # noqa: BLE001
            yield dl.tagged(dl.from_article(dl.RECORD, e, article))
