"""Shared fixtures: tiny real Hugging Face models built in the test (no network), pipeline runs, and the
Kafka broker of the engine tests."""

from __future__ import annotations

import glob
import os
import socket
from pathlib import Path

import fastavro
import pytest

from pipeline import cli
from pipeline.commands.eval.conll import LABELS
from pipeline.runtime import engines
from transforms.inference.loading import packaged_minilm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = ROOT / "tests" / "fixtures"  # small inputs committed with the tests (see fixtures/README.md)
EMBEDDED_NER = ROOT / "models" / "ner-minilm-conll03"
NEEDS_SHARED = "needs ../shared/data (the project's shared corpus); absent in this clone"
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


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


def skip_or_fail(reason: str):
    """Skips a test whose engine (broker, cluster, jar) is absent; under NEWS_INGEST_REQUIRE_ENGINES (CI)
    that is a failure instead."""
    if os.environ.get("NEWS_INGEST_REQUIRE_ENGINES"):
        pytest.fail(reason + " although NEWS_INGEST_REQUIRE_ENGINES is set")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def broker() -> str:
    """The bootstrap address of the project's Kafka broker (`engines/kafka.sh up`), with Prism and the Kafka
    expansion service jar fetched (`make engines`); skips (or fails, see ``skip_or_fail``) without them."""
    pytest.importorskip("confluent_kafka")
    host, port = KAFKA_BOOTSTRAP.rsplit(":", 1)
    with socket.socket() as s:
        if s.connect_ex((host, int(port))) != 0:
            skip_or_fail(f"no Kafka broker on {KAFKA_BOOTSTRAP} (engines/kafka.sh up)")
    for path in (engines.prism_binary(), engines.kafka_expansion_jar()):
        if not path.is_file():
            skip_or_fail(f"{path.name} not fetched (make engines)")
    return KAFKA_BOOTSTRAP


def build_tiny_ner(path: Path, *, case_token_types: bool = False, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BERT token classifier with the packaged MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

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
    """``news-ingest run ARGS`` in this process; its exit status."""
    return cli.main(["run", *args])
