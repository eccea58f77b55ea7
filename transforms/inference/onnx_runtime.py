"""ONNX Runtime backend for the pipeline's encoders (``--inference-backend``; ``onnxruntime-int8`` is
the default).

With ``onnxruntime-int8`` the export's matrix multiplications are quantized to int8 weights (dynamic
quantization, per output channel; activations are quantized per forward pass at run time, which is why
the callers never put two articles in one forward pass), about 2x faster than torch on CPUs at a small,
measured cost in agreement (bench/RESULTS.md). A model's config may keep some of them fp32
(``int8_keep_fp32``: fragments of node names; the shipped NER model keeps its first layer).

A loaded Hugging Face model (NER token classifier or sentence encoder) is exported to ONNX (and
quantized) once, kept in a cache keyed by its weights, config and the library versions
(``$NEWS_INGEST_ONNX_CACHE``, default ``~/.cache/news-ingest/onnx``; ``off`` exports to a temporary
folder every time), and wrapped so that it is called exactly like the torch model:
``model(input_ids=..., attention_mask=..., token_type_ids=...)`` returns an object with ``.logits``
(token classification) or ``.last_hidden_state`` (encoders) as torch tensors, and ``model.config``
is the original config. Nothing else in the pipeline changes, which is what makes the backends
comparable record for record (``tests/test_onnx_runtime.py`` checks agreement; ``bench/bench.py
--backend`` measures speed).

``onnxruntime`` and ``onnx`` are dependencies of the package (the export itself needs torch).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import numpy as np

from transforms.inference.cache import publish
from transforms.inference.settings import Backend, backend_named

OPSET = 17
CACHE_ENV = "NEWS_INGEST_ONNX_CACHE"
EXPORT_TEMP_PREFIX = "news-ingest-onnx-"
log = logging.getLogger(__name__)


class OnnxRuntimeUnavailable(RuntimeError):
    pass


def require_onnxruntime(exporting: bool = False):
    """onnxruntime, after checking that the onnx package (which exports need) is installed. Only with
    ``exporting`` are onnx and the quantizer imported: about a second that a run which finds its exports
    in the cache does not spend."""
    try:
        import onnxruntime

        if importlib.util.find_spec("onnx") is None:
            raise ImportError("No module named 'onnx'")
        if exporting:
            import onnx  # noqa: F401
            import onnxruntime.quantization  # noqa: F401
    except ImportError as e:
        raise OnnxRuntimeUnavailable(
            "the onnxruntime inference backends (the default) need the onnxruntime and onnx packages, "
            "dependencies of news-ingest: reinstall it (pip install onnxruntime onnx), or run with "
            "--inference-backend torch"
        ) from e
    return onnxruntime


def accepts_token_types(model) -> bool:
    """Whether the model's forward takes token_type_ids (BERT does, RoBERTa-style models may not): the
    inputs its export takes, and those the callers feed it. inspect.signature follows decorators'
    __wrapped__, unlike forward.__code__."""
    return "token_type_ids" in inspect.signature(model.forward).parameters


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
        arrays = {k: np.ascontiguousarray(v.numpy(), dtype=np.int64) for k, v in feeds.items() if k in self.input_names}
        (out,) = self.session.run([self.output_name], arrays)
        return SimpleNamespace(**{self.output_name: torch.from_numpy(out)})

    __call__ = forward


def export_onnx(model, path: str, output_name: str) -> list[str]:
    """Export ``model`` (eval mode, fp32) with dynamic batch and sequence axes; returns its input names."""
    import torch

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
        torch.onnx.export(
            _Outputs(model).eval(),
            tuple(dummy[n] for n in names),
            path,
            dynamo=False,
            input_names=names,
            output_names=[output_name],
            dynamic_axes=axes,
            opset_version=OPSET,
        )
    return names


# A model's config may name matrix multiplications that stay fp32 in its int8 export: a list of
# fragments of the export's node names (e.g. "layer.0/intermediate/dense/MatMul"). Which ones is a
# property of the trained weights, measured per model (its model card), hence config, not code.
KEEP_FP32_CONFIG_KEY = "int8_keep_fp32"


def quantize_int8(path: str, out: str, keep_fp32: Sequence[str] = ()) -> list[str]:
    """Quantize the export's MatMuls to int8 weights, except those whose node name contains one of
    ``keep_fp32``; returns the names of the nodes kept in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if isinstance(keep_fp32, str):  # one fragment written without its list
        keep_fp32 = [keep_fp32]
    kept = []
    if keep_fp32:  # reading the graph costs a parse of the whole export: only when something is kept
        graph = onnx.load(path, load_external_data=False).graph
        weights = {init.name for init in graph.initializer}
        # only MatMuls with a weight are quantized at all (attention's activation products never are)
        kept = [
            n.name
            for n in graph.node
            if n.op_type == "MatMul" and n.input[1] in weights and any(f in n.name for f in keep_fp32)
        ]
    root = logging.getLogger()  # the quantizer logs a generic "consider pre-processing" hint on the root logger
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            path,
            out,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=kept,
        )
    finally:
        root.setLevel(level)
    return kept


def cache_root() -> str | None:
    """Folder of the exported models kept between runs, or None (``$NEWS_INGEST_ONNX_CACHE=off``)."""
    root = os.environ.get(CACHE_ENV, os.path.join(os.path.expanduser("~"), ".cache", "news-ingest", "onnx"))
    return None if root.strip().lower() in ("", "off", "0", "none") else root


def export_key(model, output_name: str, int8: bool) -> str:
    """Changes whenever the export could: weights, config, output, quantization, library versions."""
    import onnxruntime
    import torch

    h = hashlib.blake2b(digest_size=16)
    for part in (
        type(model).__name__,
        model.config.to_json_string(),
        output_name,
        str(int8),
        str(OPSET),
        torch.__version__,
        onnxruntime.__version__,
    ):
        h.update(part.encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def file_key(files: Sequence[str], kind: str, output_name: str, int8: bool) -> str:
    """Cache key of an export from the files the model is loaded from (config, weights, tuned layers),
    the model class, output, quantization and library versions: known before the model is loaded, so a
    run that finds its export never loads the torch model at all (``cached_export``)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (
        "files",
        kind,
        output_name,
        str(int8),
        str(OPSET),
        version("torch"),
        version("onnxruntime"),
        version("transformers"),
    ):
        h.update(part.encode())
    for path in files:
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def cached_export(key: str) -> tuple[str, list[str]] | None:
    """Path and input names of the export kept under ``key``, if the cache has it."""
    root = cache_root()
    found = None if root is None else _read_export(os.path.join(root, key))
    if found:
        log.info("ONNX export %s from the cache %s", os.path.basename(found[0]), os.path.dirname(found[0]))
    return found


def _export(model, workdir: str, output_name: str, int8: bool) -> tuple[str, list[str]]:
    require_onnxruntime(exporting=True)
    # A cold cache costs seconds per model: say what is happening, so a first run does not look stuck.
    what = f"{type(model).__name__} ({output_name})"
    started = time.monotonic()
    log.info("exporting %s to ONNX, once per model and version: later runs read it from the cache", what)
    path = os.path.join(workdir, f"{output_name}.onnx")
    names = export_onnx(model, path, output_name)
    if int8:
        log.info("quantizing %s to int8 weights", what)
        quantized = os.path.join(workdir, f"{output_name}.int8.onnx")
        kept = quantize_int8(path, quantized, getattr(model.config, KEEP_FP32_CONFIG_KEY, None) or ())
        if kept:
            log.info(
                "kept %d matrix multiplications of %s in fp32 (%s in its config)", len(kept), what, KEEP_FP32_CONFIG_KEY
            )
        os.remove(path)
        path = quantized
    log.info("ONNX export of %s ready in %.1f s", what, time.monotonic() - started)
    with open(os.path.join(workdir, "inputs.json"), "w") as fh:
        json.dump({"file": os.path.basename(path), "inputs": names}, fh)
    return path, names


def _export_to_temp(model, output_name: str, int8: bool) -> tuple[str, list[str]]:
    """An export outside the cache (cache off, or its entry unreadable)."""
    return _export(model, tempfile.mkdtemp(prefix=EXPORT_TEMP_PREFIX), output_name, int8)


def _read_export(folder: str) -> tuple[str, list[str]] | None:
    try:
        with open(os.path.join(folder, "inputs.json")) as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return None
    path = os.path.join(folder, meta["file"])
    return (path, meta["inputs"]) if os.path.exists(path) else None


def exported(model, output_name: str, int8: bool, key: str | None = None) -> tuple[str, list[str]]:
    """Path and input names of the model's ONNX export, from the cache when it has it (under ``key``, by
    default ``export_key``: a hash of the loaded weights). A new export is written to a private folder
    and published whole (``transforms.inference.cache``), so concurrent workers never read half a file; an
    unwritable cache only means exporting to a temporary folder."""
    root = cache_root()
    if root is None:
        return _export_to_temp(model, output_name, int8)
    name = key or export_key(model, output_name, int8)
    found = _read_export(os.path.join(root, name))
    if found:
        log.info("ONNX export of %s from the cache %s", output_name, os.path.dirname(found[0]))
        return found
    folder = publish(root, name, lambda work: _export(model, work, output_name, int8), EXPORT_TEMP_PREFIX)
    return _read_export(folder) or _export_to_temp(model, output_name, int8)


def providers(ort, cuda: bool) -> list[str]:
    """ONNX Runtime execution providers: CUDA first when asked for and this onnxruntime has it
    (onnxruntime-gpu), else the CPU alone."""
    if cuda and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if cuda:
        log.warning("this onnxruntime has no CUDA execution provider (pip install onnxruntime-gpu); running on CPU")
    return ["CPUExecutionProvider"]


def to_onnxruntime(
    model, output_name: str, threads: int = 0, *, int8: bool = False, cuda: bool = False, key: str | None = None
) -> OnnxEncoder:
    """The loaded HF model's ONNX export (optionally int8-quantized, see ``exported``) in an ONNX Runtime
    session (``onnx_session``)."""
    path, names = exported(model, output_name, int8, key)
    return onnx_session(path, names, model.config, output_name, threads, cuda)


def onnx_session(
    path: str, names: list[str], config: Any, output_name: str, threads: int = 0, cuda: bool = False
) -> OnnxEncoder:
    """An export in an ONNX Runtime session (``threads`` intra-op threads, 0: all cores) on the CPU, or
    on CUDA with ``cuda`` where onnxruntime has it, called like the torch model whose ``config`` it
    carries. The session takes and returns CPU arrays either way, so callers feed it CPU tensors."""
    ort = require_onnxruntime()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # No busy-waiting between runs: the pipeline's Python work (tokenising, decoding, Beam) runs on the
    # same cores between forward passes, and spinning pool threads starve it (measured: docs/benchmarks.md, Throughput).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, sess_options=opts, providers=providers(ort, cuda))
    return OnnxEncoder(session, config, output_name, names)


def with_backend(model, backend: str, output_name: str, threads: int = 0, cuda: bool = False, key: str | None = None):
    """``model`` itself for ``torch``; otherwise its ONNX Runtime export (fp32 or int8, cached under
    ``key`` when given)."""
    engine = backend_named(backend)
    if engine == Backend.TORCH:
        return model
    return to_onnxruntime(model, output_name, threads, int8=engine == Backend.ONNXRUNTIME_INT8, cuda=cuda, key=key)
