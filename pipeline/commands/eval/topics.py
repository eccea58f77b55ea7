"""news-ingest eval-topics: topic precision/recall/F1 measured through the pipeline, next to a
keyword-regex baseline computed in the same run.

    news-ingest eval-topics --data LABELLED.jsonl [--topics FILE] [--backend embedding|nli]
                            [--model DIR_OR_ID] [--direct] [--keep DIR]

By default the labelled JSONL is run through the real pipeline (`news-ingest run`), the Avro output
is read back, and each article's `topic_labels` are compared with its `labels`. `--direct` scores
with the backend's model object instead of the pipeline (same code path inside, no Beam, no NER):
handy for quick iterations, not the number to report.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence

from pipeline.commands.avro_folder import AvroFolderError, read_folder
from pipeline.commands.train.calibrate import f1_scores, label_matrix, read_labelled
from transforms.topics.keywords import keyword_labels
from transforms.topics.taxonomy import load_taxonomy


def pipeline_predictions(
    data: str,
    topics: str | None,
    backend: str,
    model: str | None,
    out_dir: str,
    allow_download: bool = False,
    extra: Sequence[str] = (),
) -> dict[str, list[str]]:
    """Run `news-ingest run` on `data` and read {article id: topic_labels} back from the Avro output."""
    from pipeline.cli import main as cli_main

    argv = ["run", "--input", data, "--output", out_dir, "--topic-backend", backend]
    if topics:
        argv += ["--topics", topics]
    if model:
        argv += ["--topic-model", model]
    if allow_download:
        argv += ["--allow-download"]
    argv += list(extra)
    rc = cli_main(argv)
    if rc:
        raise SystemExit(f"the pipeline run failed (exit {rc}): news-ingest {' '.join(argv)}")
    try:
        return {rec["id"]: list(rec["topic_labels"]) for rec in read_folder(out_dir)}
    except AvroFolderError as e:
        raise SystemExit(f"reading the pipeline's output: {e}") from e


def direct_predictions(articles, taxonomy, backend: str, model: str | None, allow_download: bool = False):
    from pipeline.commands.train.calibrate import build_model

    scorer = build_model(taxonomy, backend, model, allow_download)
    return {a.id: r.labels for a, r in zip(articles, scorer.score(articles))}


def format_table(ids: Sequence[str], rows: dict[str, dict]) -> str:
    """One block per system: per-topic P/R/F1/support, then micro and macro F1."""
    lines = []
    for system, m in rows.items():
        lines.append(f"{system}")
        lines.append(f"  {'topic':<20} {'prec':>6} {'rec':>6} {'F1':>6} {'support':>8}")
        for j, t in enumerate(ids):
            lines.append(
                f"  {t:<20} {m['precision'][j]:6.3f} {m['recall'][j]:6.3f} {m['f1'][j]:6.3f} {int(m['support'][j]):8d}"
            )
        lines.append(f"  {'micro-F1':<20} {m['micro_f1']:6.3f}")
        lines.append(f"  {'macro-F1':<20} {m['macro_f1']:6.3f}")
    lines.append("")
    lines.append(f"{'system':<44} {'micro-F1':>9} {'macro-F1':>9}")
    for system, m in rows.items():
        lines.append(f"{system:<44} {m['micro_f1']:9.3f} {m['macro_f1']:9.3f}")
    return "\n".join(lines)


def evaluate(labels, predicted: Sequence[Sequence[str]], ids: Sequence[str]) -> dict:
    return f1_scores(label_matrix(labels, ids), label_matrix(predicted, ids))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="news-ingest eval-topics", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="labelled JSONL (id, title, text, labels)")
    ap.add_argument("--topics", default=None, help="taxonomy file (default: the packaged one)")
    ap.add_argument("--backend", choices=("embedding", "nli"), default="embedding")
    ap.add_argument("--model", default=None, help="topic model directory or hub id")
    ap.add_argument("--allow-download", action="store_true")
    ap.add_argument("--direct", action="store_true", help="score without the pipeline (quick check)")
    ap.add_argument("--keep", default=None, help="keep the pipeline output in this directory")
    args, extra = ap.parse_known_args(argv)

    taxonomy = load_taxonomy(args.topics)
    ids = taxonomy.ids
    articles, labels = read_labelled(args.data)
    if args.direct:
        pred = direct_predictions(articles, taxonomy, args.backend, args.model, args.allow_download)
        how = "direct"
    else:
        with tempfile.TemporaryDirectory(prefix="eval-topics-") as tmp:
            out_dir = args.keep or os.path.join(tmp, "out")
            pred = pipeline_predictions(
                args.data, args.topics, args.backend, args.model, out_dir, args.allow_download, extra
            )
        how = "pipeline"
    missing = [a.id for a in articles if a.id not in pred]
    if missing:
        print(
            f"warning: {len(missing)} labelled articles have no output record (dead-lettered?): "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}; counted as no topics"
        )
    rows = {
        f"{args.backend} ({how}, {taxonomy.label})": evaluate(labels, [pred.get(a.id, []) for a in articles], ids),
        "keyword regex baseline": evaluate(labels, [keyword_labels(a, ids) for a in articles], ids),
    }
    print(f"{args.data}: {len(articles)} articles, topics {', '.join(ids)}")
    print(format_table(ids, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
