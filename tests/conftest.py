"""Shared fixtures: tiny real Hugging Face models built in the test (no network) and pipeline runs."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import fastavro
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = ROOT / "tests" / "fixtures"  # small inputs committed with the tests (see fixtures/README.md)
EMBEDDED_NER = ROOT / "models" / "ner-minilm-conll03"
NEEDS_SHARED = "needs ../shared/data (the project's shared corpus); absent in this clone"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_shared: reads ../shared/data (corpus-sized or CoNLL quality "
        "checks); skipped where that folder is absent, fails under CI",
    )


@pytest.fixture(autouse=True)
def _needs_shared(request):
    """Tests marked `needs_shared` skip on a clone without ../shared/data (a stranger's clone); CI has
    the folder, so there (CI set) its absence is a failure rather than a silent skip."""
    if request.node.get_closest_marker("needs_shared") and not (SHARED / "data").is_dir():
        if os.environ.get("CI"):
            pytest.fail(NEEDS_SHARED)
        pytest.skip(NEEDS_SHARED)


def build_tiny_ner(path: Path, *, case_token_types: bool = False, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BERT token classifier with the packaged MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from pipeline.commands.eval.conll import LABELS
    from transforms.inference.loading import packaged_minilm

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(packaged_minilm())
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        type_vocab_size=4 if case_token_types else 2,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={l: i for i, l in enumerate(LABELS)},
    )
    if case_token_types:
        config.case_token_types = True
    model = BertForTokenClassification(config)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_ner(tmp_path_factory) -> Path:
    return build_tiny_ner(tmp_path_factory.mktemp("tiny-ner"))


def read_avro(pattern: str) -> list[dict]:
    records = []
    for path in sorted(glob.glob(pattern, recursive=True)):
        with open(path, "rb") as fh:
            records.extend(fastavro.reader(fh))
    return records


def run_pipeline(args: list[str]) -> int:
    from pipeline.cli import main

    return main(["run", *args])
