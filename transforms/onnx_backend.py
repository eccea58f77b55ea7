"""Optional ONNX Runtime backend for the pipeline's encoders (``--inference-backend onnxruntime``).

With ``onnxruntime-int8`` the export's matrix multiplications are quantized to int8 weights (dynamic
quantization, per output channel; activations are quantized per batch at run time), about 2x faster
on CPUs with AVX-512 VNNI at a small, measured cost in agreement (see the README's throughput table).

A loaded Hugging Face model (NER token classifier or sentence encoder) is exported once per worker
to a temporary ONNX file and wrapped so that it is called exactly like the torch model:
``model(input_ids=..., attention_mask=..., token_type_ids=...)`` returns an object with ``.logits``
(token classification) or ``.last_hidden_state`` (encoders) as torch tensors, and ``model.config``
is the original config. Nothing else in the pipeline changes, which is what makes the backends
comparable record for record (``tests/test_onnx_backend.py`` checks agreement; ``bench/bench.py
--backend`` measures speed).

``onnxruntime`` is an optional dependency: ``pip install 'news-ingest[onnx]'``.
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from types import SimpleNamespace

import numpy as np

BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")


class OnnxRuntimeUnavailable(RuntimeError):
    pass


def require_onnxruntime():
    try:
        import onnxruntime
        import onnxruntime.quantization  # noqa: F401 - int8 needs it (and the onnx package)
    except ImportError as e:
        raise OnnxRuntimeUnavailable(
            "--inference-backend onnxruntime needs the onnxruntime package: pip install 'news-ingest[onnx]'"
        ) from e
    return onnxruntime


class OnnxEncoder:
    """An exported encoder behind the torch model's call signature."""

    def __init__(self, session, config, output_name: str, input_names: list[str]):
        self.session, self.config, self.output_name = session, config, output_name
        self.input_names = input_names

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        import torch

        feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if token_type_ids is None and "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = torch.zeros_like(input_ids)
        arrays = {k: np.ascontiguousarray(v.numpy(), dtype=np.int64) for k, v in feeds.items()
                  if k in self.input_names}
        (out,) = self.session.run([self.output_name], arrays)
        return SimpleNamespace(**{self.output_name: torch.from_numpy(out)})

    __call__ = forward


def export_onnx(model, path: str, output_name: str) -> list[str]:
    """Export ``model`` (eval mode, fp32) with dynamic batch and sequence axes; returns its input names."""
    import torch

    from transforms.ner_inference import accepts_token_types

    names = ["input_ids", "attention_mask"]
    if accepts_token_types(model):
        names.append("token_type_ids")
    dummy = {n: torch.ones((2, 16), dtype=torch.long) for n in names}
    if "token_type_ids" in dummy:
        dummy["token_type_ids"] = torch.zeros((2, 16), dtype=torch.long)

    class _Outputs(torch.nn.Module):  # a plain tensor output instead of a ModelOutput
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return getattr(self.inner(**dict(zip(names, args))), output_name)

    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {output_name: {0: "batch", 1: "sequence"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about Python control flow in HF attention masks
        torch.onnx.export(_Outputs(model).eval(), tuple(dummy[n] for n in names), path, dynamo=False,
                          input_names=names, output_names=[output_name], dynamic_axes=axes, opset_version=17)
    return names


def quantize_int8(path: str, out: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()  # the quantizer logs a generic "consider pre-processing" hint on the root logger
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(path, out, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    finally:
        root.setLevel(level)


def to_onnxruntime(model, output_name: str, threads: int = 0, *, int8: bool = False,
                   workdir: str | None = None) -> OnnxEncoder:
    """Export a loaded HF model (optionally int8-quantized) and open it in an ONNX Runtime CPU session
    (``threads`` 0: all cores)."""
    ort = require_onnxruntime()
    workdir = workdir or tempfile.mkdtemp(prefix="news-ingest-onnx-")
    path = os.path.join(workdir, f"{output_name}.onnx")
    names = export_onnx(model, path, output_name)
    if int8:
        quantized = os.path.join(workdir, f"{output_name}.int8.onnx")
        quantize_int8(path, quantized)
        path = quantized
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # No busy-waiting between runs: the pipeline's Python work (tokenising, decoding, Beam) runs on the
    # same cores between forward passes, and spinning pool threads starve it. Measured on 2 cores,
    # 300 real articles, int8: topics 22.4 s -> 18.4 s, NER unchanged (bench/RESULTS.md).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    return OnnxEncoder(session, model.config, output_name, names)


def with_backend(model, backend: str, output_name: str, threads: int = 0):
    """``model`` itself for ``torch``; otherwise its ONNX Runtime export (fp32 or int8)."""
    if backend == "torch":
        return model
    if backend not in BACKENDS:
        raise ValueError(f"unknown inference backend {backend!r} (choose from {', '.join(BACKENDS)})")
    return to_onnxruntime(model, output_name, threads, int8=backend == "onnxruntime-int8")
