"""Hive-style output partitions (``--partition-by``): the folder a record goes into, named ``<column>=<value>``.

Spark and Hive read such a folder tree as one table with a ``date`` column and skip the folders a filter on
that column excludes. A record without a publication date goes
into ``date=__HIVE_DEFAULT_PARTITION__``, the folder Hive and Spark write for a null partition value and read
back as null (a made-up name such as ``date=unknown`` would turn the whole column into strings).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

# Hive's (and Spark's) name for a null partition value.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
DATE_COLUMN = "date"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def date_partition(record: dict) -> str:
    """``date=YYYY-MM-DD``: the UTC day of the record's ``published_at`` (epoch ms), or
    ``date=__HIVE_DEFAULT_PARTITION__`` when it has none."""
    published = record.get("published_at")
    if published is None:
        return f"{DATE_COLUMN}={NULL_PARTITION}"
    day = (_EPOCH + timedelta(milliseconds=published)).date()
    return f"{DATE_COLUMN}={day.isoformat()}"  # isoformat: four-digit years before 1000 too


# ``--partition-by`` -> the function naming a record's folder (None: no folders, the flat layout).
PARTITIONS: dict[str, Callable[[dict], str] | None] = {"none": None, "date": date_partition}
# The folders of every partitioning, for cleaning a local output folder before a rerun.
PARTITION_FOLDER_GLOBS = (f"{DATE_COLUMN}=*",)
