"""news-ingest eval-topics: topic precision/recall/F1 measured through the pipeline, next to a
keyword-regex baseline computed in the same run.

    news-ingest eval-topics --data LABELLED.jsonl [--topics FILE] [--backend embedding|nli]
                            [--model DIR_OR_ID] [--inference-backend B] [--direct] [--keep DIR] [run options]

By default the labelled JSONL is run through the real pipeline (in this process, with any other
`news-ingest run` flags given), the Avro output is read back, and each article's `topic_labels` are
compared with its `labels`. `--direct` scores with the topic method's model object instead of the
pipeline (loaded by the same handler on the same engine, no Beam, no NER): handy for quick iterations,
not the number to report.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from collections.abc import Sequence

from pipeline.commands.avro_folder import AvroFolderError, read_folder
from pipeline.commands.eval.labelled_topics import label_matrix, read_labelled
from pipeline.commands.eval.pipeline_run import PipelineRunFailed, run_config, run_through_pipeline
from pipeline.commands.eval.topic_metrics import f1_scores
from pipeline.commands.topic_models import add_topic_model_flags, load_topic_model, offline_settings
from transforms.topics.keywords import keyword_labels
from transforms.topics.taxonomy import load_taxonomy


def pipeline_predictions(data: str, out_dir: str, run_args: Sequence[str] = (), **fields) -> dict[str, list[str]]:
    """Run the pipeline on `data` (the run flags ``run_args``, with the RunConfig ``fields`` set here) and
    read {article id: topic_labels} back from the Avro output."""
    config = run_config(run_args, inputs=(data,), output=out_dir, **fields)
    try:
        run_through_pipeline(config, run_args)
    except PipelineRunFailed as e:
        raise SystemExit(f"the pipeline run failed: {e}") from e
    try:
        return {rec["id"]: list(rec["topic_labels"]) for rec in read_folder(out_dir)}
    except AvroFolderError as e:
        raise SystemExit(f"reading the pipeline's output: {e}") from e


def direct_predictions(articles, taxonomy, method: str, model: str | None, settings) -> dict[str, list[str]]:
    scorer = load_topic_model(taxonomy, method, model, settings)
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


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="news-ingest eval-topics", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="labelled JSONL (id, title, text, labels)")
    ap.add_argument("--topics", default=None, help="taxonomy file (default: the packaged one)")
    add_topic_model_flags(ap, model_help="topic model directory or hub id")
    ap.add_argument("--direct", action="store_true", help="score without the pipeline (quick check)")
    ap.add_argument("--keep", default=None, help="keep the pipeline output in this directory")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args, run_args = parser().parse_known_args(argv)
    taxonomy = load_taxonomy(args.topics)
    ids = taxonomy.ids
    articles, labels = read_labelled(args.data)
    settings = offline_settings(args.inference_backend, args.allow_download)
    if args.direct:
        pred = direct_predictions(articles, taxonomy, args.method, args.model, settings)
        how = "direct"
    else:
        inference = dataclasses.replace(
            run_config(run_args).inference, backend=settings.backend, allow_download=args.allow_download
        )
        with tempfile.TemporaryDirectory(prefix="eval-topics-") as tmp:
            out_dir = args.keep or os.path.join(tmp, "out")
            pred = pipeline_predictions(
                args.data,
                out_dir,
                run_args,
                taxonomy_path=args.topics,
                topic_method=args.method,
                topic_model=args.model,
                inference=inference,
            )
        how = "pipeline"
    missing = [a.id for a in articles if a.id not in pred]
    if missing:
        print(
            f"warning: {len(missing)} labelled articles have no output record (dead-lettered?): "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}; counted as no topics"
        )
    rows = {
        f"{args.method} ({how}, {taxonomy.label})": evaluate(labels, [pred.get(a.id, []) for a in articles], ids),
        "keyword regex baseline": evaluate(labels, [keyword_labels(a, ids) for a in articles], ids),
    }
    print(f"{args.data}: {len(articles)} articles, topics {', '.join(ids)}")
    print(format_table(ids, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
