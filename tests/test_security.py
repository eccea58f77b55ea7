"""Security rules: safetensors only, never trust_remote_code, no hub access unless allowed, and input
is data only (never evaluated, unpickled, or used to build a file path)."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, read_avro, run_pipeline

from transforms.inference.loading import ModelNotAvailable, load_model

SOURCE_DIRS = ("pipeline", "transforms", "schemas")


def source_files():
    for d in SOURCE_DIRS:
        yield from sorted((ROOT / d).rglob("*.py"))


class _Touch:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


# --- safetensors only ----------------------------------------------------------------------------


def test_a_model_with_only_pickle_weights_is_refused_and_never_unpickled(tmp_path, tiny_ner):
    from transformers import AutoModelForTokenClassification

    model_dir = tmp_path / "pickled-model"
    shutil.copytree(tiny_ner, model_dir)
    (model_dir / "model.safetensors").unlink()
    marker = tmp_path / "UNPICKLED"
    with open(model_dir / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"bert.embeddings.word_embeddings.weight": _Touch(marker)}, fh)
    with pytest.raises(ModelNotAvailable, match=r"safetensors.*pytorch_model\.bin|pytorch_model\.bin.*safetensors"):
        load_model(AutoModelForTokenClassification, str(model_dir))
    assert not marker.exists(), "a pickle from the model directory was loaded"


def test_the_pipeline_refuses_a_pickle_only_model_with_a_clear_error(tmp_path, tiny_ner, capsys):
    model_dir = tmp_path / "pickled-model"
    shutil.copytree(tiny_ner, model_dir)
    (model_dir / "model.safetensors").rename(model_dir / "pytorch_model.bin")
    (tmp_path / "in.jsonl").write_text('{"text": "Kyiv."}\n')
    rc = run_pipeline(
        ["--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out"), "--ner-model", str(model_dir)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "safetensors" in err


def test_trust_remote_code_is_never_enabled():
    found, bad = 0, []
    for path in source_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in re.finditer(r"trust_remote_code\s*[=:]\s*([^,)\s]+)", line):
                found += 1
                if m.group(1) != "False":
                    bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
            if re.search(r"\*\*\s*\w*(remote|trust)\w*", line):
                bad.append(f"{path.relative_to(ROOT)}:{n}: kwargs that may carry trust_remote_code")
    assert found >= 2 and bad == []  # both loaders pass it explicitly as False


def test_no_source_file_evaluates_or_unpickles():
    pattern = re.compile(
        r"(?<![\w.])(eval|exec)\(|pickle\.loads?\(|torch\.load\(|yaml\.load\(|yaml\.unsafe_load|"
        r"marshal\.loads|dill\.loads?\(|jsonpickle|__import__\("
    )
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in source_files()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


# --- no hub access without --allow-download --------------------------------------------------------


class _ConnectionRecorder:
    """A local TCP listener used as HTTP(S) proxy: every connection attempt to the hub lands here."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop = True
        self.thread.join(timeout=2)
        self.sock.close()


LOAD_SCRIPT = """
import sys, time
from transformers import AutoModelForTokenClassification
from transforms.inference.loading import ModelNotAvailable, load_model, load_tokenizer
allow = sys.argv[1] == "allow"
for load in (lambda: load_tokenizer("someone/not-a-local-model", allow),
             lambda: load_model(AutoModelForTokenClassification, "someone/not-a-local-model", allow)):
    t = time.time()
    try:
        load()
        print("LOADED")
    except ModelNotAvailable as e:
        print(f"ModelNotAvailable {time.time() - t:.2f} {e}")
"""


def _load_hub_id(tmp_path, proxy_url: str, allow: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_ETAG_TIMEOUT="2",
        HF_HUB_DOWNLOAD_TIMEOUT="2",
        HTTPS_PROXY=proxy_url,
        HTTP_PROXY=proxy_url,
        https_proxy=proxy_url,
        http_proxy=proxy_url,
        NO_PROXY="",
        no_proxy="",
    )
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, "allow" if allow else "deny"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith(("ModelNotAvailable", "LOADED"))]
    assert len(lines) == 2, proc.stdout + proc.stderr[-2000:]
    return lines


def test_a_hub_id_without_allow_download_never_touches_the_network(tmp_path):
    """HF_HUB_OFFLINE is unset and a proxy records every connection: there must be none."""
    recorder = _ConnectionRecorder()
    try:
        started = time.time()
        lines = _load_hub_id(tmp_path, recorder.url, allow=False)
        wall = time.time() - started
    finally:
        recorder.close()
    assert recorder.connections == 0, "the loader contacted the network without --allow-download"
    for line in lines:
        _, seconds, message = line.split(" ", 2)
        assert float(seconds) < 10 and "--allow-download" in message, line
    assert wall < 60  # including interpreter start and imports


def test_the_connection_recorder_sees_a_download_attempt(tmp_path):
    """With --allow-download the loader does go to the hub: proves the check above can fail."""
    recorder = _ConnectionRecorder()
    try:
        lines = _load_hub_id(tmp_path, recorder.url, allow=True)
    finally:
        recorder.close()
    assert recorder.connections > 0
    assert all(l.startswith("ModelNotAvailable") for l in lines)


# --- input is data only ------------------------------------------------------------------------------

HOSTILE_PATHS = [
    "../../etc/passwd",
    "../../../../tmp/escape",
    "/tmp/absolute-escape",
    "..",
    "articles-00000-of-00001",
    "C:\\Windows\\system32",
    "~/.ssh/id_rsa",
    "\x00nul",
    "a/b/c",
]


def test_input_never_builds_a_file_path_or_runs_code(tmp_path, tiny_ner):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    marker = tmp_path / "CODE_RAN"
    payloads = [
        {
            "id": pid,
            "title": pid,
            "text": f"An article whose id is {pid!r}.",
            "url": f"file://{pid}",
            "source": pid,
            "output": str(tmp_path / "escape.avro"),
            "source_file": "/etc/shadow",
        }
        for pid in HOSTILE_PATHS
    ] + [
        {
            "id": "code",
            "text": f"__import__('pathlib').Path({str(marker)!r}).touch() {{{{7*7}}}} ${{jndi:x}}",
            "title": "!!python/object/apply:os.system ['touch " + str(marker) + "']",
        },
        {"id": "pickle", "text": "pickled bytes below", "blob": pickle.dumps(_Touch(marker)).decode("latin-1")},
    ]
    (inp / "paths.jsonl").write_text("\n".join(json.dumps(p) for p in payloads) + "\n", encoding="utf-8")
    before = set(tmp_path.rglob("*")) | set(Path("/tmp").glob("*escape*"))
    assert (
        run_pipeline(
            [
                "--input",
                str(inp / "*.jsonl"),
                "--output",
                str(out),
                "--ner-model",
                str(tiny_ner),
                "--torch-threads",
                "1",
            ]
        )
        == 0
    )
    records = read_avro(str(out / "articles-*.avro"))
    dead = read_avro(str(out / "deadletter-*.avro"))
    by_id = {r["id"]: r for r in records}
    assert len(records) == len(payloads) and not dead
    for pid in HOSTILE_PATHS:
        assert by_id[pid]["source_file"] == str(inp / "paths.jsonl")  # never taken from the input
    assert by_id["code"]["text"].startswith("__import__(")  # stored as text, not run
    created = (set(tmp_path.rglob("*")) | set(Path("/tmp").glob("*escape*"))) - before
    outside = [p for p in created if out not in p.parents and p != out]
    assert outside == [] and not marker.exists()
    assert {p.name for p in out.iterdir()} <= {p.name for p in out.glob("articles-*.avro")} | {
        p.name for p in out.glob("deadletter-*.avro")
    }
