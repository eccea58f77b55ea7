"""Avro single-object encoding: how a record travels as one Kafka message value.

    message = C3 01 | CRC-64-AVRO fingerprint of the writer schema (8 bytes, little-endian) | Avro binary body

(Avro specification, "Single-object encoding"). A consumer looks the fingerprint up among the schema
versions it knows (``schemas/`` and ``schemas/history/``) and decodes the body with that writer schema,
resolved to its own reader schema; no schema registry is needed.
"""

from __future__ import annotations

import io
from functools import cache

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

import schemas

MARKER = b"\xc3\x01"


@cache
def schema_fingerprint(name: str) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a schema's parsing canonical form, little-endian."""
    canonical = to_parsing_canonical_form(schemas.parsed(name))
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))  # fastavro gives the little-endian bytes


def encode(name: str, record: dict) -> bytes:
    buf = io.BytesIO()
    buf.write(MARKER + schema_fingerprint(name))
    fastavro.schemaless_writer(buf, schemas.parsed(name), record)
    return buf.getvalue()


def decode(message: bytes, writer_schemas: dict[bytes, dict], reader_schema: dict | None = None) -> dict:
    """``writer_schemas``: fingerprint -> parsed schema (see ``known_schemas``)."""
    if message[:2] != MARKER:
        raise ValueError("not an Avro single-object encoded message (no C3 01 marker)")
    writer = writer_schemas.get(message[2:10])
    if writer is None:
        raise ValueError(f"unknown schema fingerprint {message[2:10].hex()}")
    return fastavro.schemaless_reader(io.BytesIO(message[10:]), writer, reader_schema)
