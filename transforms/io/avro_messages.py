"""How a record travels as one Kafka message value: a header that names the writer schema (or none), then the
record's Avro binary body (``fastavro.schemaless_writer``). Three value formats (``--kafka-value-format``):

    single-object  C3 01 | CRC-64-AVRO fingerprint of the writer schema (8 bytes, little-endian) | body
    raw            body
    confluent      00 | schema id from a schema registry (4 bytes, big-endian) | body

single-object is the Avro specification's "Single-object encoding": a consumer looks the fingerprint up among
the schema versions it knows (``schemas/`` and ``schemas/history/``), no registry needed. raw is what readers
that take the schema from elsewhere expect (Flink's ``avro`` format, ``fastavro.schemaless_reader`` with a
schema file): the message does not say which version wrote it. confluent is Confluent's wire format; the id
comes from registering the schema (``schema_registry``), and readers resolve it with the same registry.
"""

from __future__ import annotations

import io
from functools import cache

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

import schemas

SINGLE_OBJECT, RAW, CONFLUENT = "single-object", "raw", "confluent"
VALUE_FORMATS = (SINGLE_OBJECT, RAW, CONFLUENT)
MARKER = b"\xc3\x01"  # single-object
CONFLUENT_MAGIC = b"\x00"


@cache
def schema_fingerprint(name: str) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a schema's parsing canonical form, little-endian."""
    canonical = to_parsing_canonical_form(schemas.parsed(name))
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))  # fastavro gives the little-endian bytes


def confluent_header(schema_id: int) -> bytes:
    if not 0 <= schema_id < 1 << 31:
        raise ValueError(f"a schema id is a non-negative 32-bit int, not {schema_id}")
    return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")


def header(value_format: str, name: str, schema_id: int | None = None) -> bytes:
    """The bytes before the body of every message of schema ``name`` in ``value_format``; ``schema_id``:
    the registry's id of the schema (confluent only)."""
    if value_format == SINGLE_OBJECT:
        return MARKER + schema_fingerprint(name)
    if value_format == RAW:
        return b""
    if value_format == CONFLUENT:
        if schema_id is None:
            raise ValueError("the confluent value format needs the schema id given by the registry")
        return confluent_header(schema_id)
    raise ValueError(f"unknown value format {value_format!r} (one of {', '.join(VALUE_FORMATS)})")


def encode(name: str, record: dict, prefix: bytes | None = None) -> bytes:
    """``record`` as one message value: ``prefix`` (a ``header``; default: single-object's) + the body."""
    buf = io.BytesIO()
    buf.write(header(SINGLE_OBJECT, name) if prefix is None else prefix)
    fastavro.schemaless_writer(buf, schemas.parsed(name), record)
    return buf.getvalue()


def decode(message: bytes, writer_schemas: dict[bytes, dict], reader_schema: dict | None = None) -> dict:
    """A single-object message. ``writer_schemas``: fingerprint -> parsed schema."""
    if message[:2] != MARKER:
        raise ValueError("not an Avro single-object encoded message (no C3 01 marker)")
    writer = writer_schemas.get(message[2:10])
    if writer is None:
        raise ValueError(f"unknown schema fingerprint {message[2:10].hex()}")
    return fastavro.schemaless_reader(io.BytesIO(message[10:]), writer, reader_schema)
