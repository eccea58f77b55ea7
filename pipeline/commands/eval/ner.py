"""`news-ingest eval-ner`: entity-level exact-match P/R/F1 measured through the pipeline.

Two kinds of gold: a CoNLL file (token ... tag per line, IOB2), each sentence one JSONL article (tokens joined
by single spaces, no title); or the news gold set (a ``.jsonl`` file: segments of real articles with character
spans, pipeline/commands/eval/news_gold.py), read as articles (title and body, ``--unit article``) or a segment
per article. The real pipeline runs on them in this process and writes Avro (the `news-ingest run` flags given
here apply to that run); the entity spans read back from the Avro records are compared with the gold spans
(field, span and type must all match, seqeval-style), per type, with the errors listed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.commands.avro_folder import AvroFolderError, read_folder
from pipeline.commands.eval.conll import join_sentences, read_conll
from pipeline.commands.eval.ner_metrics import format_table, score_spans
from pipeline.commands.eval.news_gold import GoldFormatError, Span, as_articles, read_segments
from pipeline.commands.eval.pipeline_run import PipelineRunFailed, run_config, run_through_pipeline


@dataclass
class GoldSet:
    ids: list[str]
    lines: list[str]  # the JSONL articles the pipeline reads
    texts: list[dict[str, str]]  # field -> text, to show the errors
    spans: list[set[Span]]
    unit: str


def spans_from_avro(directory: Path) -> dict[str, set[Span]]:
    """{article id: (field, start, end, label) of its entities} from the Avro output under directory."""
    return {
        r["id"]: {(e["field"], e["start"], e["end"], e["label"]) for e in r["entities"]} for r in read_folder(directory)
    }


def conll_gold(path: str, limit: int, group: int) -> GoldSet:
    sentences = read_conll(path)
    if limit:
        sentences = sentences[:limit]
    sentences = join_sentences(sentences, group)
    ids = [f"s{i}" for i in range(len(sentences))]
    return GoldSet(
        ids,
        [json.dumps({"id": i, "title": "", "text": s.text}) for i, s in zip(ids, sentences)],
        [{"title": "", "text": s.text} for s in sentences],
        [{("text", *span) for span in s.entities()} for s in sentences],
        "sentences" if group <= 1 else f"articles of {group} sentences",
    )


def news_gold(path: str, limit: int, unit: str) -> GoldSet:
    articles = as_articles(read_segments(path), unit)
    if limit:
        articles = articles[:limit]
    return GoldSet(
        [a.id for a in articles],
        [a.as_json() for a in articles],
        [{"title": a.title, "text": a.text} for a in articles],
        [a.spans for a in articles],
        f"{unit}s (news gold)",
    )


def errors(gold: GoldSet, pred: list[set[Span]]) -> list[str]:
    """One line per missed or wrong span: what the gold has, what the model gave, in the words of the text."""
    out = []
    for doc_id, texts, g, p in zip(gold.ids, gold.texts, gold.spans, pred):
        for kind, spans in (("missed", g - p), ("wrong", p - g)):
            for field, s, e, t in sorted(spans, key=lambda x: (x[0], x[1])):
                out.append(f"{doc_id} {kind:<6} {t:<4} {texts[field][s:e]!r} ({field} {s}:{e})")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="news-ingest eval-ner", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True, help="CoNLL file, or news gold .jsonl (segments with character spans)")
    ap.add_argument("--ner-model", default=None, help="model to evaluate (default: the embedded model)")
    ap.add_argument("--limit", type=int, default=0, help="first N sentences (or gold articles) only")
    ap.add_argument(
        "--group",
        type=int,
        default=1,
        help="CoNLL: join N consecutive sentences into one article (sentences of one CoNLL article are "
        "consecutive), so that texts longer than an NER window are measured too",
    )
    ap.add_argument(
        "--unit",
        choices=("article", "segment"),
        default="article",
        help="news gold: read each article's segments as one article (title + body, default) or each alone",
    )
    ap.add_argument("--errors", type=int, default=0, help="list up to N missed and wrong entities")
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    ap.add_argument("--work-dir", default=None, help="keep the pipeline input/output here")
    args, run_args = ap.parse_known_args(argv)

    try:
        is_news = args.data.endswith(".jsonl")
        gold = news_gold(args.data, args.limit, args.unit) if is_news else conll_gold(args.data, args.limit, args.group)
    except (OSError, GoldFormatError) as e:
        print(f"news-ingest eval-ner: error: {e}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        src, out = work / "articles.jsonl", work / "out"
        src.write_text("".join(line + "\n" for line in gold.lines), encoding="utf-8")
        config = run_config(run_args, inputs=(str(src),), output=str(out), ner_model=args.ner_model)
        try:
            run_through_pipeline(config, run_args)
            predicted = spans_from_avro(out)
        except (PipelineRunFailed, AvroFolderError) as e:
            print(f"news-ingest eval-ner: error: {e}", file=sys.stderr)
            return 2
    missing = [i for i in gold.ids if i not in predicted]
    pred = [predicted.get(i, set()) for i in gold.ids]
    table = score_spans(gold.spans, pred)
    print(f"{args.data}: {len(gold.ids)} {gold.unit}, {len(missing)} without a record")
    print(format_table(table))
    listed = errors(gold, pred)
    if args.errors and listed:
        print(f"errors ({min(args.errors, len(listed))} of {len(listed)}):")
        print("\n".join(listed[: args.errors]))
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))
    return 0 if not missing else 1
