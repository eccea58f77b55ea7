"""Dead-letter records: every input that cannot be enriched ends here, with the reason."""

from __future__ import annotations

import time

import apache_beam as beam

from transforms.article import Article, RawUnit

DEAD_LETTER = "dead_letter"  # tag of the failure output of every transform

# Stages a dead letter can name (documented in schemas/dead_letter.avsc). The schema's list also has
# `validate`, which no transform names: readers of the dead letters may match on it.
READ, PARSE, NER, TOPICS, RECORD = "read", "parse", "ner", "topics", "record"


def dead_letter(
    stage: str,
    error: BaseException | str,
    *,
    raw: bytes,
    source_file: str,
    source_line: int | None,
    raw_truncated: bool = False,
    article_id: str | None = None,
) -> dict:
    """A dict matching schemas/dead_letter.avsc. `raw` is kept whole here: the graph cuts it once, at
    --max-deadletter-bytes (``pipeline.graph.cap_raw``), so the option can raise the cap as well as
    lower it."""
    error_type, message = describe(error)
    return {
        "raw": bytes(raw),
        "raw_truncated": raw_truncated,
        "source_file": source_file,
        "source_line": source_line,
        "stage": stage,
        "error_type": error_type,
        "error_message": message[:4000],
        "article_id": article_id,
        "failed_at": int(time.time() * 1000),
    }


def describe(error) -> tuple[str, str]:
    """(error_type, message) of an exception, a reason string (``InvalidArticle``), an
    ``InferenceFailed`` marker, or the ``(type, repr, traceback lines)`` tuple that Beam's
    ``with_exception_handling`` emits for a failed batch."""
    if isinstance(error, BaseException):
        return type(error).__name__, str(error) or repr(error)
    if isinstance(error, str):
        return "InvalidArticle", error
    if isinstance(getattr(error, "error_type", None), str) and isinstance(getattr(error, "message", None), str):
        return error.error_type, error.message
    if isinstance(error, tuple) and error and isinstance(error[0], type) and issubclass(error[0], BaseException):
        name = error[0].__name__
        message = str(error[1]) if len(error) > 1 else name
        lines = error[2] if len(error) > 2 and isinstance(error[2], (list, tuple)) else []
        last = str(lines[-1]).strip() if lines else ""
        head, sep, rest = last.partition(": ")
        if sep and head.split(".")[-1] == name:  # "pkg.mod.Error: message" -> message
            message = rest
        return name, message
    return type(error).__name__, str(error)


def from_unit(stage: str, error, unit: RawUnit) -> dict:
    return dead_letter(
        stage,
        error,
        raw=unit.data,
        source_file=unit.source_file,
        source_line=unit.line,
        raw_truncated=unit.truncated,
    )


def from_article(stage: str, error, article: Article) -> dict:
    return dead_letter(
        stage,
        error,
        raw=article.raw,
        source_file=article.source_file,
        source_line=article.source_line,
        article_id=article.id,
    )


def tagged(record: dict) -> beam.pvalue.TaggedOutput:
    return beam.pvalue.TaggedOutput(DEAD_LETTER, record)
