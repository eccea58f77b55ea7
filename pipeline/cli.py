"""`news-ingest` command line: one sub-command per task, each a module with ``main(argv)``."""

from __future__ import annotations

import importlib
import sys

from pipeline import __version__
from pipeline.runtime import job_server

COMMANDS = {
    "run": ("pipeline.run", "run the pipeline (batch, or streaming with --streaming --watch)"),
    "train-ner": ("pipeline.commands.train.ner", "fine-tune the embedded NER model on CoNLL-2003"),
    "eval-ner": ("pipeline.commands.eval.ner", "NER P/R/F1 on CoNLL or news gold data, measured through the pipeline"),
    "calibrate": ("pipeline.commands.train.calibrate", "fit topic score calibration and thresholds into a taxonomy"),
    "train-topics": (
        "pipeline.commands.train.topics",
        "fit topic exemplars, per-topic calibration and threshold by cross-validation",
    ),
    "eval-topics": (
        "pipeline.commands.eval.topics",
        "topic precision/recall/F1 through the pipeline vs. a keyword baseline",
    ),
    "report": ("pipeline.commands.report", "self-contained HTML report from Avro output"),
    "inspect": ("pipeline.commands.inspect_avro", "print Avro records as JSON lines, or the schema"),
}


def usage() -> str:
    lines = ["usage: news-ingest COMMAND [options]   (news-ingest COMMAND --help for details)", "", "commands:"]
    lines += [f"  {name:<12} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] in ("--version", "version"):
        print(__version__)
        return 0
    if argv[0] not in COMMANDS:
        print(f"news-ingest: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if argv[0] == "run":
        # Beam's Flink job server, where the run needs one, starts now: its JVM comes up while the run's
        # libraries are imported (pipeline/runtime/job_server.py)
        job_server.start_early(argv[1:])
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)
