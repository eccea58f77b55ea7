"""Avro schemas consumers depend on (`.avsc` files next to this module)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import fastavro

SCHEMA_DIR = Path(__file__).resolve().parent
ENRICHED_ARTICLE = "enriched_article"
DEAD_LETTER = "dead_letter"


def schema_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.avsc"


@cache
def load_json(name: str) -> dict:
    return json.loads(schema_path(name).read_text())


@cache
def parsed(name: str):
    return fastavro.parse_schema(load_json(name))
