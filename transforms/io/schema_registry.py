"""Registering a value schema with a Confluent-compatible schema registry, for the ``confluent`` message format.

One call of the registry's REST API (``POST /subjects/<topic>-value/versions`` with ``{"schema": "<the schema
as a JSON string>"}``; the answer is ``{"id": N}``), made with the standard library. Registering a schema the
subject already has is idempotent in that API: it answers the existing id, so every worker that registers at
its start gets the same id. Not tested against a real registry (none can run where this project is built); the
tests check the request against an in-test stand-in that implements only this call.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import schemas

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
TIMEOUT_SECONDS = 10.0


class SchemaRegistryError(RuntimeError):
    """The registry could not be reached or did not give an id: nothing can be written in its format."""


def value_subject(topic: str) -> str:
    """The subject of a topic's message values (the registry's default TopicNameStrategy)."""
    return f"{topic}-value"


def register_value_schema(url: str, topic: str, schema_name: str) -> int:
    """Registers our schema ``schema_name`` for the values of ``topic``; its id."""
    return register(url, value_subject(topic), schemas.load_json(schema_name))


def register(url: str, subject: str, schema: dict, timeout: float = TIMEOUT_SECONDS) -> int:
    """Registers ``schema`` (the .avsc JSON) under ``subject`` at the registry ``url``; its id."""
    endpoint = f"{url.rstrip('/')}/subjects/{urllib.parse.quote(subject, safe='')}/versions"
    body = json.dumps({"schema": json.dumps(schema, separators=(",", ":"))}).encode()
    request = urllib.request.Request(
        endpoint,
        data=body,
        method="POST",
        headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = response.read()
    except urllib.error.HTTPError as e:
        raise SchemaRegistryError(
            f"schema registry {url} refused the schema of {subject}: HTTP {e.code} {_message(e.read())}"
        ) from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SchemaRegistryError(f"schema registry {url} cannot be reached: {reason}") from e
    try:
        schema_id = json.loads(answer)["id"]
    except (ValueError, KeyError, TypeError):
        schema_id = None
    if not isinstance(schema_id, int) or isinstance(schema_id, bool):
        raise SchemaRegistryError(f"schema registry {url} gave no id for {subject}: {answer[:200]!r}")
    return schema_id


def _message(body: bytes) -> str:
    """The registry's error message (``{"error_code": ..., "message": ...}``), else the start of the body."""
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")
