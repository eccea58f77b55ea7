"""`news-ingest eval-ner`: entity-level exact-match P/R/F1 measured through the pipeline.

Each CoNLL sentence becomes one JSONL article (tokens joined by single spaces); the real pipeline runs
on it in this process and writes Avro (the `news-ingest run` flags given here apply to that run); the
entity spans read back from the Avro records are compared with the gold spans (span and type must both
match, seqeval-style).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from pipeline.commands.avro_folder import AvroFolderError, read_folder
from pipeline.commands.eval.conll import Sentence, join_sentences, read_conll
from pipeline.commands.eval.ner_metrics import format_table, score_spans
from pipeline.commands.eval.pipeline_run import PipelineRunFailed, run_config, run_through_pipeline


def spans_from_avro(directory: Path) -> dict[str, set[tuple[int, int, str]]]:
    """{article id: (start, end, label) of its entities in the text} from the Avro output under directory."""
    return {
        r["id"]: {(e["start"], e["end"], e["label"]) for e in r["entities"] if e["field"] == "text"}
        for r in read_folder(directory)
    }


def write_articles(sentences: list[Sentence], path: Path) -> None:
    """One JSONL article per sentence (id ``s<index>``, no title)."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, s in enumerate(sentences):
            fh.write(json.dumps({"id": f"s{i}", "title": "", "text": s.text}) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="news-ingest eval-ner", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", required=True, help="CoNLL file (token ... tag per line, IOB2)")
    ap.add_argument("--ner-model", default=None, help="model to evaluate (default: the embedded model)")
    ap.add_argument("--limit", type=int, default=0, help="first N sentences only")
    ap.add_argument(
        "--group",
        type=int,
        default=1,
        help="join N consecutive sentences into one article (sentences of one CoNLL article are "
        "consecutive), so that texts longer than an NER window are measured too",
    )
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    ap.add_argument("--work-dir", default=None, help="keep the pipeline input/output here")
    args, run_args = ap.parse_known_args(argv)

    sentences = read_conll(args.data)
    if args.limit:
        sentences = sentences[: args.limit]
    sentences = join_sentences(sentences, args.group)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        src, out = work / "sentences.jsonl", work / "out"
        write_articles(sentences, src)
        config = run_config(run_args, inputs=(str(src),), output=str(out), ner_model=args.ner_model)
        try:
            run_through_pipeline(config, run_args)
            predicted = spans_from_avro(out)
        except (PipelineRunFailed, AvroFolderError) as e:
            print(f"news-ingest eval-ner: error: {e}", file=sys.stderr)
            return 2
    missing = [i for i in range(len(sentences)) if f"s{i}" not in predicted]
    gold = [s.entities() for s in sentences]
    pred = [predicted.get(f"s{i}", set()) for i in range(len(sentences))]
    table = score_spans(gold, pred)
    unit = "sentences" if args.group <= 1 else f"articles of {args.group} sentences"
    print(f"{args.data}: {len(sentences)} {unit}, {len(missing)} without a record")
    print(format_table(table))
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))
    return 0 if not missing else 1
