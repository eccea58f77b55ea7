"""Flex template entry point: the template's parameters arrive as --name=value flags; `news-ingest run`
builds the graph, submits it to Dataflow and returns without waiting (as flex templates require)."""

import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
