"""`news-ingest report`: a self-contained HTML report over the pipeline's Avro output.

    news-ingest report --input DIR --output report.html [--top N]

Reads every `articles-*.avro` under DIR (recursively, so streaming-window subfolders are included) and
counts the records of every `deadletter-*.avro`. The page embeds its figures as base64 PNG data URIs and
loads nothing else (no CSS/JS/fonts from outside; a Content-Security-Policy forbids it), so it opens
offline and can be mailed around.

    data.py                    loading and every number (pure functions over record dicts; tested
                               against the Avro records)
    figures.py                 matplotlib figures -> PNG data URIs
    page.py                    the HTML page: templates/report.html.j2, Jinja2 with autoescaping on
    this file                  the command

Needs the `report` extra (matplotlib, jinja2): pip install 'news-ingest[report]'.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from pipeline.commands.arguments import int_at_least
from pipeline.commands.avro_folder import AvroFolderError
from pipeline.commands.report import figures, page
from pipeline.commands.report.data import ReportData, ReportError, compute, load_articles, load_dead_letter_stages

PROG = "news-ingest report"
EXTRA = ("matplotlib", "jinja2")


def build_report(input_dir: Path, output: Path, top: int = 10) -> ReportData:
    missing = [m for m in EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        raise ReportError(f"{' and '.join(missing)} not installed: pip install 'news-ingest[report]'")

    input_dir = Path(input_dir)
    records, files = load_articles(input_dir)
    stages, dl_files = load_dead_letter_stages(input_dir)
    if not files and not dl_files:
        raise ReportError(f"no articles-*.avro or deadletter-*.avro files under {input_dir}")
    data = compute(
        records,
        dead_letters=stages,
        top=top,
        input_dir=str(input_dir),
        article_files=len(files),
        dead_letter_files=len(dl_files),
    )
    html = page.render_html(data, figures.render_figures(data))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(output)
    return data


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Build a self-contained HTML report (figures embedded, opens offline) from the "
        "pipeline's Avro output: topic volume, topic co-occurrence, top and rising entities, "
        "and a table of the articles.",
    )
    ap.add_argument(
        "--input",
        required=True,
        type=Path,
        help="output folder of the pipeline; articles-*.avro and deadletter-*.avro are found recursively",
    )
    ap.add_argument("--output", required=True, type=Path, help="HTML file to write")
    ap.add_argument(
        "--top", type=int_at_least(1), default=10, help="entities per table and rising entities shown (default 10)"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        data = build_report(args.input, args.output, top=args.top)
    except (ReportError, AvroFolderError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    print(
        f"{PROG}: {data.n_articles} articles, {sum(data.dead_letters.values())} dead letters -> {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
