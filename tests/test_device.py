"""--device auto|cpu|cuda: cpu (the default) and auto on a machine without a GPU give today's records;
cuda without a GPU is a clear error. The GPU path itself (OnDevice) is exercised here on the CPU."""

from __future__ import annotations

import types

import pytest
import torch
from conftest import ROOT, build_tiny_ner, read_avro, run_pipeline

from transforms.inference.handler import OnDevice
from transforms.inference.loading import ModelNotAvailable, torch_device

SEED = next((ROOT / "seeds").glob("*.txt"))
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")


def records(folder) -> list[dict]:
    rows = [{k: v for k, v in r.items() if k != "ingested_at"} for r in read_avro(str(folder / "articles-*.avro"))]
    return sorted(rows, key=lambda r: r["id"])


@NO_GPU
def test_cpu_and_auto_give_the_default_records(tiny_ner, tmp_path):
    runs = {}
    for name, extra in (("default", []), ("cpu", ["--device", "cpu"]), ("auto", ["--device", "auto"])):
        assert (
            run_pipeline(["--input", str(SEED), "--output", str(tmp_path / name), "--ner-model", str(tiny_ner), *extra])
            == 0
        )
        runs[name] = records(tmp_path / name)
    assert runs["default"] and runs["cpu"] == runs["default"] and runs["auto"] == runs["default"]


@NO_GPU
@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_cuda_without_a_gpu_is_exit_2_with_a_clear_message(tiny_ner, tmp_path, capsys, backend):
    if backend != "torch":
        pytest.importorskip("onnxruntime")
    rc = run_pipeline(
        [
            "--input",
            str(SEED),
            "--output",
            str(tmp_path / "o"),
            "--ner-model",
            str(tiny_ner),
            "--device",
            "cuda",
            "--inference-backend",
            backend,
        ]
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("news-ingest run: error:")]
    assert rc == 2 and len(errors) == 1 and "--device cuda" in errors[0] and "no CUDA GPU" in errors[0], errors


def test_torch_device(monkeypatch):
    assert torch_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device("auto") == "cpu"
    with pytest.raises(ModelNotAvailable, match="--device cuda"):
        torch_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_device("auto") == "cuda" and torch_device("cuda") == "cuda"
    with pytest.raises(ValueError, match="unknown device"):
        torch_device("tpu")


@pytest.mark.parametrize("case_token_types", [False, True])
def test_on_device_is_called_like_the_model(tmp_path, case_token_types):
    """The wrapper a GPU model gets, here around a CPU model: same entities, and NER still sees that the
    model takes token_type_ids (the case-aware models need them)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from transforms.ner.inference import accepts_token_types, predict_entities

    path = build_tiny_ner(tmp_path / "m", case_token_types=case_token_types, seed=3)
    model = AutoModelForTokenClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    texts = ["Emmanuel Macron met Volodymyr Zelenskyy in Paris.", "nothing here " * 100]
    wrapped = OnDevice(model, "cpu")
    assert accepts_token_types(wrapped) and wrapped.config is model.config
    assert predict_entities(wrapped, tokenizer, texts) == predict_entities(model, tokenizer, texts)
    out = wrapped(**tokenizer(texts[:1], return_tensors="pt"))
    assert out.logits.device.type == "cpu"


def test_onnxruntime_providers(caplog):
    from transforms.inference.onnx_runtime import providers

    with_cuda = types.SimpleNamespace(get_available_providers=lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    cpu_only = types.SimpleNamespace(get_available_providers=lambda: ["CPUExecutionProvider"])
    assert providers(with_cuda, cuda=False) == ["CPUExecutionProvider"]
    assert providers(with_cuda, cuda=True) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers(cpu_only, cuda=True) == ["CPUExecutionProvider"] and "onnxruntime-gpu" in caplog.text
