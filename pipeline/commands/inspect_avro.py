"""`news-ingest inspect`: print an Avro container file as JSON lines, or its writer schema.

    news-ingest inspect FILE.avro [--schema] [--limit N] [--bytes base64|latin1]

Like avro-tools `tojson` / `getschema`, with two differences stated in --help: values are plain JSON
(unions are not wrapped as {"type": value}), and logical types are rendered readably (timestamps as
ISO 8601 strings in UTC).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import fastavro

from pipeline.commands.arguments import int_at_least

PROG = "news-ingest inspect"
MAGIC = b"Obj\x01"  # first bytes of every Avro object container file

EPILOG = """\
output encoding (one JSON object per line, UTF-8):
  timestamps  (timestamp-millis/-micros) ISO 8601 strings in UTC with a Z suffix and millisecond
              (micros: microsecond) precision, e.g. "2021-10-25T16:07:00.000Z"
  bytes/fixed base64 strings by default (RFC 4648, with padding); with --bytes latin1 each byte becomes
              the code point of the same value, as in avro-tools tojson and Avro's JSON encoding
  unions      the plain value (null or the branch's value), not avro-tools' {"type": value}
  enums       the symbol string; dates "YYYY-MM-DD"; time-millis/-micros "HH:MM:SS.ffffff";
              decimals strings; uuids strings; NaN/Infinity floats the strings "NaN", "Infinity"
exit status: 0 ok, 2 the file is missing, unreadable or not a valid Avro container file
"""


class InspectError(Exception):
    pass


def to_jsonable(value: Any, bytes_mode: str = "base64") -> Any:
    """A JSON-serialisable form of a value decoded by fastavro (see EPILOG for the rules)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, bytes_mode) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, bytes_mode) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        return base64.b64encode(b).decode("ascii") if bytes_mode == "base64" else b.decode("latin-1")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
        return value.isoformat(timespec=spec) + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    return str(value)


def _open_reader(path: str):
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise InspectError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InspectError(f"is a directory, not an Avro file: {path}") from None
    except OSError as e:
        raise InspectError(f"cannot open {path}: {e.strerror or e}") from e
    try:
        magic = f.read(4)
        f.seek(0)
        if magic != MAGIC:
            raise InspectError(f"not a valid Avro container file (no Obj\\x01 magic): {path}")
        return f, fastavro.reader(f)
    except InspectError:
        f.close()
        raise
    except Exception as e:
        f.close()
        raise InspectError(f"not a valid Avro container file: {path} ({type(e).__name__}: {_first_line(e)})") from e


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else repr(e)


def writer_schema_json(reader) -> dict:
    """The writer schema as stored in the file header (not fastavro's parsed form)."""
    raw = reader.metadata.get("avro.schema")
    if raw is not None:
        return json.loads(raw)
    return reader.writer_schema


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="Print the records of an Avro container file as JSON lines (like avro-tools tojson), "
        "or with --schema its writer schema as JSON (like avro-tools getschema).",
    )
    ap.add_argument("file", metavar="FILE.avro", help="Avro container file (any codec fastavro reads)")
    ap.add_argument(
        "--schema", action="store_true", help="print the writer schema (pretty-printed JSON) instead of the records"
    )
    ap.add_argument(
        "--limit", type=int_at_least(0), default=None, metavar="N", help="print at most N records (default: all)"
    )
    ap.add_argument(
        "--bytes",
        dest="bytes_mode",
        choices=("base64", "latin1"),
        default="base64",
        help="how bytes/fixed values are written (default base64; see below)",
    )
    return ap


def main(argv: list[str] | None = None, out=None) -> int:
    args = parser().parse_args(argv)
    out = out or sys.stdout
    try:
        f, reader = _open_reader(args.file)
    except InspectError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    try:
        with f:
            if args.schema:
                out.write(json.dumps(writer_schema_json(reader), indent=2, ensure_ascii=False) + "\n")
                return 0
            n = 0
            try:
                for rec in reader:
                    if args.limit is not None and n >= args.limit:
                        break
                    out.write(json.dumps(to_jsonable(rec, args.bytes_mode), ensure_ascii=False, allow_nan=False) + "\n")
                    n += 1
            except BrokenPipeError:
                raise
            except Exception as e:
                out.flush()
                print(
                    f"{PROG}: error: invalid data in {args.file} after {n} records "
                    f"({type(e).__name__}: {_first_line(e)})",
                    file=sys.stderr,
                )
                return 2
            out.flush()
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        try:  # keep the interpreter's final flush of stdout from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
