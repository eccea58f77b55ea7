"""Reading a pipeline output folder: the records of every `articles-*.avro` (or `deadletter-*.avro`) under
it, for the commands that look at the output (report, eval-ner, eval-topics).

Files are found recursively, since a streaming run writes into per-window subfolders, and in name
order. Beam's temporary folders (`beam-temp-*`) and hidden ones are skipped: their files may be
incomplete. Local folders only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import fastavro

Kind = Literal["articles", "deadletter"]


class AvroFolderError(Exception):
    """The folder is missing, holds no file of the kind asked for, or a file cannot be read; the message
    is one line naming the folder or file."""


def avro_files(folder, kind: Kind = "articles", *, required: bool = True) -> list[Path]:
    """The `{kind}-*.avro` files under folder, sorted. With `required`, finding none is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AvroFolderError(f"folder not found: {folder}")
    files = sorted(
        p
        for p in folder.rglob(f"{kind}-*.avro")
        if p.is_file() and not any(part.startswith((".", "beam-temp")) for part in p.relative_to(folder).parts)
    )
    if required and not files:
        raise AvroFolderError(f"no {kind}-*.avro files under {folder}")
    return files


def read_files(paths: Iterable[Path]) -> Iterator[dict]:
    """The records of the given Avro container files, file after file."""
    for path in paths:
        try:
            with open(path, "rb") as f:
                yield from fastavro.reader(f)
        except Exception as e:  # corrupt block, not an Avro file, unreadable ...
            raise AvroFolderError(f"cannot read {path}: {type(e).__name__}: {e}") from e


def read_folder(folder, kind: Kind = "articles") -> Iterator[dict]:
    """The records of every `{kind}-*.avro` under folder; an error when there is none (see avro_files)."""
    return read_files(avro_files(folder, kind))
