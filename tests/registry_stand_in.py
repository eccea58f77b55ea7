"""A STAND-IN for a Confluent schema registry, for tests. It is not a registry: no Confluent-compatible registry
can run where this project is built (Karapace is not on PyPI; Apicurio's server and Confluent's are not served;
see docs/consumers.md), so the confluent value format is tested against the registry's documented REST call
instead of a real server.

It implements only the one call the pipeline makes, ``POST /subjects/<subject>/versions`` with
``{"schema": "<JSON string>"}`` and ``Content-Type: application/vnd.schemaregistry.v1+json``, answering
``{"id": N}`` as the Confluent API documents: one id per distinct schema, the same id when a schema is
registered again. It keeps every request it was sent; ``refuse`` makes it answer an error instead.
Nothing else of a registry is here (no lookups by id, no compatibility rules, no storage).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass
class Request:
    method: str
    path: str
    content_type: str | None
    body: bytes


@dataclass
class RegistryStandIn:
    requests: list[Request] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)  # schema string -> id
    subjects: dict[str, list[int]] = field(default_factory=dict)  # subject -> ids registered under it
    refuse: tuple[int, bytes] | None = None  # (HTTP status, body) to answer instead of an id
    first_id: int = 1

    def __enter__(self) -> RegistryStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stand_in.requests.append(Request("POST", self.path, self.headers.get("Content-Type"), body))
                status, answer = stand_in.answer(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.refuse is not None:
            return self.refuse
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            return 404, json.dumps({"error_code": 404, "message": "HTTP 404 Not Found"}).encode()
        try:
            schema = json.loads(body)["schema"]
            json.loads(schema)
        except (ValueError, KeyError, TypeError):
            return 422, json.dumps({"error_code": 42201, "message": "Invalid schema"}).encode()
        schema_id = self.ids.setdefault(schema, self.first_id + len(self.ids))
        self.subjects.setdefault(urllib.parse.unquote(parts[1]), []).append(schema_id)
        return 200, json.dumps({"id": schema_id}).encode()

    def registered(self) -> dict[str, dict]:
        """subject -> the schema (parsed JSON) last registered under it."""
        by_id = {i: json.loads(s) for s, i in self.ids.items()}
        return {subject: by_id[ids[-1]] for subject, ids in self.subjects.items()}
