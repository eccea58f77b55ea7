"""The topic models of the offline commands, loaded the way the pipeline loads them: by the topic method's
ModelHandler, on an inference backend (default: the pipeline's own). Calibration is then fitted, and
evaluation scored, on the features of the engine that scores articles in production: int8 rounding moves
the evidence a little, and a threshold fitted on torch features would sit slightly off for it."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from transforms.inference.settings import BACKENDS, DEFAULT_BACKEND, InferenceSettings
from transforms.inference.threads import available_cores
from transforms.topics import embedding, nli
from transforms.topics.embedding import EmbeddingTopicModelHandler
from transforms.topics.nli import NliTopicModelHandler
from transforms.topics.taxonomy import Taxonomy

HANDLERS = {"embedding": EmbeddingTopicModelHandler, "nli": NliTopicModelHandler}
METHODS = tuple(HANDLERS)
# The features `news-ingest calibrate` fits per method (train-topics fits the embedding's richer set).
CALIBRATION_FEATURES = {"embedding": tuple(embedding.FEATURES), "nli": tuple(nli.FEATURES)}
# What `news-ingest train-topics` writes into a taxonomy's embedding block: files of a previous training.
LEARNED_FILES = ("exemplars", "encoder_weights")


def add_topic_model_flags(parser: argparse.ArgumentParser, model_help: str) -> None:
    """The flags that choose a topic model and its engine: ``--backend`` (the topic method, dest
    ``method``), ``--model``, ``--inference-backend`` and ``--allow-download``."""
    parser.add_argument("--backend", dest="method", choices=METHODS, default="embedding", help="topic method")
    parser.add_argument("--model", default=None, help=model_help)
    add_inference_backend_flag(parser)
    parser.add_argument("--allow-download", action="store_true")


def add_inference_backend_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inference-backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND.value,
        help=f"engine of the topic model's forward passes (default: the pipeline's, {DEFAULT_BACKEND})",
    )


def offline_settings(backend: str, allow_download: bool = False) -> InferenceSettings:
    """The pipeline's engine for a command that scores one article after another: one stream of forward
    passes on every core (the pipeline runs one single-threaded stream per core; onnxruntime gives the
    same vectors either way, and torch's own thread pool is left at every core for training)."""
    return InferenceSettings(
        backend=backend, model_threads=available_cores(), article_threads=1, allow_download=allow_download
    )


def load_topic_model(taxonomy: Taxonomy, method: str, model_name: str | None, settings: InferenceSettings):
    """The scoring object of a topic method (``.features(articles)``, ``.score(articles)``), loaded by the
    pipeline's handler of that method on ``settings``' engine."""
    if method not in HANDLERS:
        raise SystemExit(f"unknown topic method {method!r}")
    if method == "nli" and not model_name:
        raise SystemExit("--backend nli needs --model (a local NLI model directory or hub id)")
    return HANDLERS[method](taxonomy, model_name, settings).load_model()


def untrained(taxonomy: Taxonomy) -> Taxonomy:
    """A copy of ``taxonomy`` that names no exemplars and no tuned encoder layers: its topics scored by the
    base encoder, anchors and aliases (what train-topics learns from, whatever an earlier training left)."""
    base = copy.deepcopy(taxonomy)
    block = base.calibration.get("embedding") or {}
    for key in LEARNED_FILES:
        block.pop(key, None)
    return base


def with_tuned_encoder(taxonomy: Taxonomy, weights: str | Path) -> Taxonomy:
    """A copy of ``taxonomy`` whose embedding encoder carries the tuned layers in ``weights`` (and no
    exemplars): how a fold's tuned encoder is loaded on the production engine."""
    tuned = untrained(taxonomy)
    tuned.calibration.setdefault("embedding", {})["encoder_weights"] = str(Path(weights).resolve())
    return tuned
