"""Dead-letter records: every input that cannot be enriched ends here, with the reason."""
from __future__ import annotations

import time
from typing import Optional

import apache_beam as beam

from transforms.article import Article, RawUnit

DEAD_LETTER = "dead_letter"  # tag of the failure output of every transform

# Stages a dead letter can name (documented in schemas/dead_letter.avsc).
READ, PARSE, VALIDATE, NER, TOPICS, RECORD = "read", "parse", "validate", "ner", "topics", "record"


def dead_letter(
    stage: str,
    error: BaseException | str,
    *,
    raw: bytes,
    source_file: str,
    source_line: Optional[int],
    raw_truncated: bool = False,
    article_id: Optional[str] = None,
    max_raw_bytes: int = 1 << 20,
) -> dict:
    """A dict matching schemas/dead_letter.avsc. `raw` is capped at `max_raw_bytes` (flagged)."""
    if isinstance(error, BaseException):
        error_type, message = type(error).__name__, str(error) or repr(error)
    else:
        error_type, message = "InvalidArticle", error
    truncated = raw_truncated or len(raw) > max_raw_bytes
    return {
        "raw": bytes(raw[:max_raw_bytes]),
        "raw_truncated": truncated,
        "source_file": source_file,
        "source_line": source_line,
        "stage": stage,
        "error_type": error_type,
        "error_message": message[:4000],
        "article_id": article_id,
        "failed_at": int(time.time() * 1000),
    }


def from_unit(stage: str, error, unit: RawUnit) -> dict:
    return dead_letter(
        stage, error, raw=unit.data, source_file=unit.source_file, source_line=unit.line,
        raw_truncated=unit.truncated,
    )


def from_article(stage: str, error, article: Article) -> dict:
    return dead_letter(
        stage, error, raw=article.raw, source_file=article.source_file,
        source_line=article.source_line, article_id=article.id,
    )


def tagged(record: dict) -> beam.pvalue.TaggedOutput:
    return beam.pvalue.TaggedOutput(DEAD_LETTER, record)
