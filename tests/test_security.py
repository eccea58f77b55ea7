"""Security rules: safetensors only, never trust_remote_code, no hub access unless allowed, and input
is data only (never evaluated, unpickled, or used to build a file path)."""

from __future__ import annotations

import ast
import json
import os
import pickle
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


# --- the source: no code path that runs what it reads ---------------------------------------------
#
# An ast walk over every module of SOURCE_DIRS: calls are resolved through the module's imports (also
# those inside functions), so ``import pickle as p; p.loads(...)`` and ``from yaml import load`` count.

# Calls that run or unpickle what they are given.
UNSAFE_CALLS = {
    "eval",
    "exec",
    "compile",  # the builtin: code objects from strings (re.compile is another name)
    "__import__",
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "_pickle.load",
    "_pickle.loads",
    "marshal.load",
    "marshal.loads",
    "dill.load",
    "dill.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "jsonpickle.decode",
    "shelve.open",
    "joblib.load",
    "pandas.read_pickle",
    "torch.load",  # pickle underneath: weights come from safetensors only
    "yaml.unsafe_load",
    "yaml.full_load",
    "yaml.load_all",
    "os.system",
    "os.popen",
}
SAFE_YAML_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader"}


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> the qualified name it is bound to by any import of the module."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(node: ast.expr, names: dict[str, str]) -> str | None:
    """``np.load`` -> "numpy.load" (with ``import numpy as np``); None for anything but a dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(names.get(node.id, node.id))
    return ".".join(reversed(parts))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node: ast.expr | None, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_calls(source: str, where: str = "<source>") -> list[str]:
    """Every call in ``source`` that evaluates, unpickles or hands a shell a string, as "where:line: name"."""
    tree = ast.parse(source)
    names = _imports(tree)
    found = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = _qualified(call.func, names)
        if name is None:
            continue
        bad = name in UNSAFE_CALLS
        if name == "yaml.load":  # safe only with an explicit safe Loader
            loader = _keyword(call, "Loader")
            if loader is None and len(call.args) > 1:
                loader = call.args[1]
            bad = loader is None or _qualified(loader, names) not in SAFE_YAML_LOADERS
        elif name == "numpy.load":  # numpy refuses pickled arrays unless allow_pickle is set
            bad = not (_keyword(call, "allow_pickle") is None or _is_constant(_keyword(call, "allow_pickle"), False))
        elif name.startswith("subprocess."):  # argument lists only: shell=True would parse a string
            bad = not (_keyword(call, "shell") is None or _is_constant(_keyword(call, "shell"), False))
        elif name.startswith(("os.exec", "os.spawn")):
            bad = True
        if bad:
            found.append(f"{where}:{call.lineno}: {name}")
    return found


def remote_code_settings(source: str, where: str = "<source>") -> tuple[int, list[str]]:
    """(explicit ``trust_remote_code=False`` arguments, every other way ``source`` sets
    ``trust_remote_code``: a keyword or dict entry that is not the constant False, or the name written
    into a mapping or object)."""
    explicit, bad = 0, []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for k in node.keywords:
                if k.arg == "trust_remote_code":
                    if _is_constant(k.value, False):
                        explicit += 1
                    else:
                        bad.append(f"{where}:{node.lineno}: trust_remote_code={ast.unparse(k.value)}")
            if any(isinstance(a, ast.Constant) and a.value == "trust_remote_code" for a in node.args):
                bad.append(f"{where}:{node.lineno}: {ast.unparse(node.func)}(..., 'trust_remote_code', ...)")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == "trust_remote_code"
                    and not _is_constant(value, False)
                ):
                    bad.append(f"{where}:{node.lineno}: {{'trust_remote_code': {ast.unparse(value)}}}")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.slice, ast.Constant) and node.slice.value == "trust_remote_code":
                bad.append(f"{where}:{node.lineno}: {ast.unparse(node)} = ...")
    return explicit, bad


def test_trust_remote_code_is_never_enabled():
    explicit, bad = 0, []
    for path in source_files():
        n, found = remote_code_settings(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
        explicit, bad = explicit + n, bad + found
    assert bad == []
    assert explicit >= 3  # the tokenizer and model loaders, and NER training, pass it as False


def test_no_source_file_evaluates_unpickles_or_runs_a_shell():
    found = [c for p in source_files() for c in unsafe_calls(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "eval(text)",
        "import pickle as p\np.loads(blob)",
        "from pickle import load\nload(fh)",
        "def f():\n    import torch\n    return torch.load(path)",
        "import yaml\nyaml.load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.FullLoader)",
        "from yaml import load, Loader\nload(text, Loader)",
        "import subprocess\nsubprocess.run(cmd, shell=True)",
        "import subprocess as sp\nsp.Popen(cmd, shell=flag)",
        "import numpy as np\nnp.load(path, allow_pickle=True)",
        "import os\nos.system(cmd)",
        "import os\nos.execvp(cmd, args)",
    ],
)
def test_the_source_check_finds_each_unsafe_call(source):
    assert len(unsafe_calls(source)) == 1


def test_the_source_check_passes_the_safe_forms():
    safe = """
import re, subprocess, yaml
import numpy as np
from yaml import SafeLoader
re.compile(pattern)
yaml.safe_load(text)
yaml.load(text, Loader=yaml.SafeLoader)
yaml.load(text, SafeLoader)
subprocess.run(["java", "-jar", jar], shell=False)
subprocess.Popen(args)
np.load(path)
model.eval()
"""
    assert unsafe_calls(safe) == []


def test_the_remote_code_check_finds_each_way_to_enable_it():
    sources = [
        "AutoModel.from_pretrained(name, trust_remote_code=True)",
        "AutoModel.from_pretrained(name, trust_remote_code=flag)",
        "kw = {'trust_remote_code': True}",
        "kw['trust_remote_code'] = True",
        "setattr(config, 'trust_remote_code', True)",
    ]
    assert [len(remote_code_settings(s)[1]) for s in sources] == [1] * len(sources)
    assert remote_code_settings("AutoModel.from_pretrained(name, trust_remote_code=False)") == (1, [])


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
                "--model-threads",
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
