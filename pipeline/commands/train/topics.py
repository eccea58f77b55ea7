"""news-ingest train-topics: fit the embedding topic model's labelled part (exemplars + per-topic
calibration + threshold) from labelled articles, selected by cross-validation.

    news-ingest train-topics --data LABELLED.jsonl [--data MORE.jsonl ...] [--dev DEV.jsonl]
                             [--topics FILE] [--out FILE] [--exemplars PATH] [--report JSON]
                             [--folds 5] [--repeats 3] [--seed 0] [--model DIR] [--inference-backend B]

What is learned from the labels, per topic that has them:

* for candidates with ``tune``: the encoder's top layer(s), fine-tuned on the article labels
  (pipeline/commands/train/topic_tuning.py; the same architecture, so it costs what the base encoder costs),
  saved next to the exemplars (``encoder-tuned.safetensors``) and referenced by the taxonomy
  (``calibration.embedding.encoder_weights``); everything below is then computed with the tuned encoder;
* exemplars: the best-evidence passages of the articles labelled with the topic (positives) and of
  those not labelled with it (near misses), stored as embeddings in a safetensors file that the
  taxonomy references (``calibration.embedding.exemplars``);
* a logistic calibration on (evidence, knn, evknn) (see transforms/topics/embedding.py);
* one global decision threshold.

Passages are embedded by the pipeline's own handler and engine (``--inference-backend``, default the
pipeline's: pipeline/commands/topic_models.py), so exemplars and calibrations are fitted on the vectors
that production compares them with. The tuning itself needs gradients, so it runs on torch; each tuned
encoder is then loaded on that engine (an export per fold, in a temporary cache) to embed the passages.

Selection is by repeated k-fold cross-validation over ALL the labelled articles (--data and --dev
together): fold f of repeat r is ``numpy.random.default_rng(seed + r).permutation(n)[f::folds]``, in
the order the files are given. Each fold picks its exemplars and fits its calibration on the other
folds only (and a training article's own passages never serve as its exemplars; a tuned candidate
tunes the encoder on the other folds too), so the table is out-of-fold. The candidate configurations
(CANDIDATES) and the threshold are chosen on the mean of micro- and macro-F1; the keyword regex is
scored on the same articles. With --dev, the chosen
configuration is also fitted on the non-dev articles only and scored once on dev. The shipped model
is then fitted on all articles. Topics with no labelled positive keep the zero-shot default.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.commands.eval.labelled_topics import label_matrix, read_labelled
from pipeline.commands.eval.topic_metrics import mean_f1
from pipeline.commands.topic_models import (
    add_inference_backend_flag,
    load_topic_model,
    offline_settings,
    untrained,
    with_tuned_encoder,
)
from pipeline.commands.train.calibrate import THRESHOLD_GRID, PooledLogistic, newton_logistic
from pipeline.commands.train.topic_tuning import LayerInputs, TuneConfig, tuned_encoder, tuned_state
from pipeline.commands.train.topic_tuning import tune as tune_layers
from transforms.inference.onnx_runtime import CACHE_ENV
from transforms.inference.settings import Backend, InferenceSettings
from transforms.topics.embedding import EmbeddingTopicModel
from transforms.topics.exemplars import Exemplars
from transforms.topics.keywords import keyword_labels
from transforms.topics.passages import split_passages
from transforms.topics.taxonomy import DEFAULT_TAXONOMY, Calibration, Taxonomy, load_taxonomy, save_taxonomy

# Encoder tuning of the tuned candidates (TuneConfig in pipeline/commands/train/topic_tuning.py).
TUNED = {"layers": 2, "epochs": 4, "lr": 1e-4, "candidates": 8, "tau": 0.05, "batch": 16}
EXEMPLARS_1_3 = {"method": "exemplars", "npos": 1, "nneg": 3, "top_k": 3}

# name -> settings. "pooled" is the evidence-only model of `news-ingest calibrate` (shared slope, a bias
# per topic): the baseline the exemplar methods have to beat.
# Bigger exemplar sets cost more per article at run time (every passage meets every exemplar): 3
# positives / 20 near misses per article (~7,500 exemplars per topic) measured 0.888 / 0.868 in
# exploration but about +50% seconds per article, over the 20% budget; these stay within it.
CANDIDATES: dict[str, dict] = {
    "pooled-evidence": {"method": "pooled"},
    "exemplars-1/3-top3": {**EXEMPLARS_1_3, "C": 1.0},
    "exemplars-2/5-top3": {"method": "exemplars", "npos": 2, "nneg": 5, "top_k": 3, "C": 1.0},
    "exemplars-1/3-top3-C0.3": {**EXEMPLARS_1_3, "C": 0.3},
    "exemplars-1/3-top3+2": {
        **EXEMPLARS_1_3,
        "C": 1.0,
        "features": ("evidence", "knn", "evknn", "evknn2", "alias_frac"),
    },
    # the same exemplar methods on an encoder whose last two layers are fine-tuned on the labels (the three
    # share one tuning per fold); tuning settings chosen on repeat 0 of the same folds (model card)
    "tuned2-exemplars-1/3-top3-C0.3": {**EXEMPLARS_1_3, "C": 0.3, "tune": TUNED},
    "tuned2-exemplars-1/3-top3-C1": {**EXEMPLARS_1_3, "C": 1.0, "tune": TUNED},
    "tuned2-exemplars-1/3-top3-C0.3+alias_n": {
        **EXEMPLARS_1_3,
        "C": 0.3,
        "tune": TUNED,
        "features": ("evidence", "knn", "evknn", "alias_n"),
    },
}
FEATURES = ("evidence", "knn", "evknn")


# ------------------------------------------------------------------------------------------ fitting


class TopicLogistic:
    """L2-regularised logistic regression on standardised features (Newton), one topic."""

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray) -> TopicLogistic:
        self.mu = X.mean(0)
        self.sd = X.std(0)
        self.sd[self.sd < 1e-9] = 1.0
        Z = np.c_[(X - self.mu) / self.sd, np.ones(len(X))]
        pen = np.r_[np.full(Z.shape[1] - 1, 1.0 / self.C), 1e-6]
        self.theta = newton_logistic(Z, y, pen, tol=1e-9)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = np.c_[(X - self.mu) / self.sd, np.ones(len(X))] @ self.theta
        return 1.0 / (1.0 + np.exp(-z))

    def calibration(self, names: Sequence[str]) -> Calibration:
        w = self.theta[:-1] / self.sd
        return Calibration(
            weights={n: float(v) for n, v in zip(names, w)}, bias=float(self.theta[-1] - (w * self.mu).sum())
        )


class PassageData:
    """Every article's passage embeddings, anchor similarities and alias hits (encoded once)."""

    def __init__(self, model, articles, log=print):
        t0 = time.time()
        self.emb, self.ev, self.passages = [], [], []
        for i, a in enumerate(articles):
            ps, emb, sims, hits = model.passage_evidence(a)
            self.passages.append(ps)
            self.emb.append(emb)
            self.ev.append((sims, hits))
            if (i + 1) % 100 == 0:
                log(f"  encoded {i + 1}/{len(articles)} articles ({time.time() - t0:.0f} s)")
        self.seconds = time.time() - t0
        self.n_passages = sum(len(e) for e in self.emb)
        self.bonus = model.alias_bonus

    @classmethod
    def cached(cls, model, articles, path: str, engine: str, log=print) -> PassageData:
        """Embeddings from `path` when it holds these articles' passages embedded by ``engine`` (a name of
        the model and backend), else encoded and saved there."""
        passages = [split_passages(a.title, a.text) or [" "] for a in articles]
        key = hashlib.sha256(json.dumps([[a.id for a in articles], passages, engine]).encode()).hexdigest()
        if Path(path).exists():
            z = np.load(path)
            if str(z["key"]) == key:
                self = cls.from_embeddings(
                    model, passages, [z[f"e{i}"].astype(np.float32) for i in range(len(passages))]
                )
                self.seconds = float(z["seconds"])
                log(f"passage embeddings read from {path}")
                return self
        self = cls(model, articles, log)
        np.savez(path, key=key, seconds=self.seconds, **{f"e{i}": e for i, e in enumerate(self.emb)})
        return self

    @classmethod
    def from_embeddings(cls, model, passages: Sequence[Sequence[str]], emb: Sequence[np.ndarray]) -> PassageData:
        """Passage data from embeddings already computed (anchor similarity and alias hits from ``model``)."""
        self = cls.__new__(cls)
        self.bonus = model.alias_bonus
        self.passages, self.emb = [list(p) for p in passages], list(emb)
        self.ev = [model.anchor_evidence(ps, e) for ps, e in zip(self.passages, self.emb)]
        self.seconds = 0.0
        self.n_passages = sum(len(e) for e in self.emb)
        return self

    def evidence(self, i: int) -> np.ndarray:
        sims, hits = self.ev[i]
        return sims + self.bonus * hits


@contextlib.contextmanager
def onnx_cache(folder: str) -> Iterator[None]:
    """ONNX exports made inside go to ``folder``: a fold's tuned encoder is exported for one use and
    does not belong in the cache that later runs read."""
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = folder
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before


class EncoderTuning:
    """Fine-tunes the encoder's top layer(s) on a set of training articles (pipeline/commands/train/topic_tuning.py)
    and re-embeds every article's passages and the taxonomy's anchors with the result, on the engine of
    ``settings``. The frozen lower layers' outputs are computed once and shared by every fold."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        model,
        data: PassageData,
        Y: np.ndarray,
        settings: InferenceSettings,
        model_name: str | None = None,
        seed: int = 0,
        log=print,
    ):
        self.taxonomy, self.model, self.data, self.Y = taxonomy, model, data, Y
        self.settings, self.model_name = settings, model_name
        self.seed, self.log = seed, log
        sizes = [len(e) for e in data.emb]
        self.offsets = np.r_[0, np.cumsum(sizes)]
        self.texts = [p for ps in data.passages for p in ps]
        self.anchor_means = np.stack([t.anchors.mean(0) for t in model.topics])
        self._encoder = model.encoder if settings.backend == Backend.TORCH else None
        self._inputs = {}
        self._fits = {}  # (tune settings, training articles) -> fit: candidates sharing a tuning share its folds

    @property
    def encoder(self):
        """The base encoder on torch (the tuning needs its layers and gradients), loaded when first needed."""
        if self._encoder is None:
            torch_settings = replace(self.settings, backend=Backend.TORCH)
            self._encoder = load_topic_model(
                untrained(self.taxonomy), "embedding", self.model_name, torch_settings
            ).encoder
        return self._encoder

    def inputs(self, layers: int) -> LayerInputs:
        if layers not in self._inputs:
            t0 = time.time()
            self._inputs[layers] = LayerInputs(self.encoder, self.texts, layers)
            self.log(f"  inputs of the top {layers} layer(s) for {len(self.texts)} passages ({time.time() - t0:.0f} s)")
        return self._inputs[layers]

    def fit(self, tune: dict, train: np.ndarray):
        """(model, data, top layers) for an encoder tuned on the articles ``train``."""
        cfg = TuneConfig.from_dict(tune)
        key = (json.dumps(vars(cfg), sort_keys=True), np.asarray(train).tobytes())
        if key not in self._fits:
            self._fits[key] = self._fit(cfg, np.asarray(train))
        return self._fits[key]

    def _fit(self, cfg: TuneConfig, train: np.ndarray):
        inputs = self.inputs(cfg.layers)
        best = [np.argsort(-self.data.evidence(i).max(1), kind="stable")[: cfg.candidates] for i in range(len(self.Y))]
        candidates = [self.offsets[i] + b for i, b in enumerate(best)]
        hits = [self.data.ev[i][1][b] for i, b in enumerate(best)]
        top = tune_layers(
            self.encoder,
            inputs,
            candidates,
            hits,
            self.anchor_means,
            self.Y,
            train,
            cfg,
            self.model.alias_bonus,
            self.seed,
            log=self.log,
        )
        if self.settings.backend == Backend.TORCH:
            model = EmbeddingTopicModel(self.taxonomy, tuned_encoder(self.encoder, top), use_exemplars=False)
            flat = inputs.embed(top)
            emb = [flat[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]
        else:
            model, emb = self._on_engine(top)
        return model, PassageData.from_embeddings(model, self.data.passages, emb), top

    def _on_engine(self, top):
        """The tuned encoder loaded on the settings' engine (as the pipeline loads the shipped one), and
        every article's passages embedded by it."""
        from safetensors.torch import save_file

        with tempfile.TemporaryDirectory(prefix="train-topics-") as folder, onnx_cache(folder):
            weights = Path(folder) / "encoder-tuned.safetensors"
            save_file(tuned_state(self.encoder, top), str(weights))
            tuned = with_tuned_encoder(self.taxonomy, weights)
            model = load_topic_model(tuned, "embedding", self.model_name, self.settings)
            return model, [model.encoder.encode(ps) for ps in self.data.passages]


def select_exemplars(
    data: PassageData, Y: np.ndarray, ids: Sequence[str], train: np.ndarray, npos: int, nneg: int, top_k: int
):
    """Exemplars from the training articles only, with the owning article of each exemplar."""
    pos, neg, owners = {}, {}, {}
    for k, tid in enumerate(ids):
        if Y[train, k].sum() == 0:
            continue
        P, N, po, no = [], [], [], []
        for i in train:
            order = np.argsort(-data.evidence(i)[:, k], kind="stable")
            take = order[:npos] if Y[i, k] else order[:nneg]
            (P if Y[i, k] else N).append(data.emb[i][take])
            (po if Y[i, k] else no).extend([i] * len(take))
        pos[tid] = np.concatenate(P).astype(np.float16).astype(np.float32)
        neg[tid] = (
            np.concatenate(N).astype(np.float16).astype(np.float32)
            if N
            else np.zeros((0, pos[tid].shape[1]), np.float32)
        )
        owners[tid] = (np.asarray(po), np.asarray(no))
    return Exemplars(pos=pos, neg=neg, top_k=top_k), owners


def feature_array(model, data: PassageData, ids, exemplars, owners, rows, names=FEATURES) -> np.ndarray:
    """[len(rows), n_topics, len(names)] features; owners given -> leave-own-article-out exemplar scores."""
    out = np.zeros((len(rows), len(ids), len(names)))
    for r, i in enumerate(rows):
        sims, hits = data.ev[i]
        f = model.article_features(data.emb[i], sims, hits, exemplars=exemplars, owner=i, exemplar_owners=owners)
        for k, tid in enumerate(ids):
            out[r, k] = [f[tid].get(n, 0.0) for n in names]
    return out


def fit_predict(model, data, Y, ids, cfg, train, test):
    """Fit cfg on train; probabilities for test [len(test), n_topics]."""
    if cfg["method"] == "pooled":
        X = np.array([[data.evidence(i)[:, k].max() for k in range(len(ids))] for i in range(len(Y))])[:, :, None]
        m = PooledLogistic(("evidence",), C=1.0).fit(X[train], Y[train])
        return m.predict(X[test])
    ex, owners = select_exemplars(data, Y, ids, train, cfg["npos"], cfg["nneg"], cfg["top_k"])
    names = cfg.get("features", FEATURES)
    Xtr = feature_array(model, data, ids, ex, owners, train, names)
    Xte = feature_array(model, data, ids, ex, None, test, names)
    out = np.zeros((len(test), len(ids)))
    pooled = PooledLogistic(("evidence",), C=1.0).fit(Xtr[:, :, :1], Y[train])
    pooled_pred = pooled.predict(Xte[:, :, :1])
    for k, tid in enumerate(ids):
        if tid in ex.pos:
            out[:, k] = TopicLogistic(cfg["C"]).fit(Xtr[:, k], Y[train, k]).predict(Xte[:, k])
        else:
            out[:, k] = pooled_pred[:, k]
    return out


def fold_indices(n: int, folds: int, repeats: int, seed: int) -> list[list[np.ndarray]]:
    return [[np.random.default_rng(seed + r).permutation(n)[f::folds] for f in range(folds)] for r in range(repeats)]


def cross_validate(
    model, data, Y, ids, cfg, folds_list, tuning: EncoderTuning | None = None
) -> tuple[float, dict, dict]:
    oofs = []
    for fl in folds_list:
        oof = np.zeros(Y.shape)
        for test in fl:
            train = np.setdiff1d(np.arange(len(Y)), test)
            m, d = tuning.fit(cfg["tune"], train)[:2] if cfg.get("tune") else (model, data)
            oof[test] = fit_predict(m, d, Y, ids, cfg, train, test)
        oofs.append(oof)
    best, best_key, table = 0.5, -1.0, {}
    for thr in THRESHOLD_GRID:
        s = mean_f1(Y, [(o >= thr).astype(float) for o in oofs], ids)
        table[thr] = s
        if (s["micro_f1"] + s["macro_f1"]) / 2 > best_key + 1e-9:
            best, best_key = thr, (s["micro_f1"] + s["macro_f1"]) / 2
    return best, table[best], table


def fit_final(model, data, Y, ids, cfg, rows):
    """Exemplars + per-topic calibrations + pooled default fitted on `rows`."""
    ex, owners = select_exemplars(data, Y, ids, rows, cfg["npos"], cfg["nneg"], cfg["top_k"])
    names = cfg.get("features", FEATURES)
    X = feature_array(model, data, ids, ex, owners, rows, names)
    pooled = PooledLogistic(("evidence",), C=1.0).fit(X[:, :, :1], Y[rows])
    per_topic, default = pooled.calibrations()
    cals = {}
    for k, tid in enumerate(ids):
        if tid in ex.pos:
            cals[tid] = TopicLogistic(cfg["C"]).fit(X[:, k], Y[rows, k]).calibration(names)
        elif Y[rows, k].sum() > 0:
            cals[tid] = per_topic[k]
    return ex, cals, default


# --------------------------------------------------------------------------------------------- main


def keyword_table(articles, Y, ids) -> dict:
    pred = np.array([[t in keyword_labels(a, ids) for t in ids] for a in articles], dtype=float)
    return mean_f1(Y, [pred], ids)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="news-ingest train-topics", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="labelled JSONL (repeatable)")
    ap.add_argument("--dev", default=None, help="labelled JSONL: in the CV pool, and scored once by a fit on the rest")
    ap.add_argument("--topics", default=None, help="taxonomy file (default: the packaged one)")
    ap.add_argument("--out", default=None, help="taxonomy to write (default: --topics)")
    ap.add_argument(
        "--exemplars",
        default=None,
        help="exemplar file to write (default: models/topics-minilm-exemplars/exemplars.safetensors "
        "for the packaged taxonomy, else next to --out)",
    )
    ap.add_argument("--report", default=None, help="write the CV report as JSON here")
    ap.add_argument("--model", default=None, help="encoder directory (default: packaged MiniLM)")
    add_inference_backend_flag(ap)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--candidates", default=",".join(CANDIDATES), help="comma-separated subset of " + ",".join(CANDIDATES)
    )
    ap.add_argument(
        "--cache",
        default=None,
        help="npz file for the passage embeddings (read if it matches the data, else written): reruns skip encoding",
    )
    ap.add_argument("--version", default=None, help="taxonomy version to write (default: unchanged)")
    return ap


def read_pool(paths: Sequence[str], dev: str | None, ids: Sequence[str]):
    """(articles, label matrix, is-dev mask) of every labelled file, in the order given, dev last."""
    articles, labels, is_dev = [], [], []
    for path in [*paths, *([dev] if dev else [])]:
        a, l = read_labelled(path)
        articles += a
        labels += l
        is_dev += [path == dev] * len(a)
    return articles, label_matrix(labels, ids), np.asarray(is_dev)


def print_row(name: str, threshold: str, scores: dict, ids: Sequence[str], tail: str = "") -> None:
    print(
        f"{name:<28} {threshold:>5} {scores['micro_f1']:6.3f} {scores['macro_f1']:6.3f}  "
        + " ".join(f"{scores['per_topic_f1'][t]:12.3f}" for t in ids)
        + tail,
        flush=True,
    )


def choose_candidate(names, model, data, Y, ids, folds_list, tuning, report) -> str | None:
    """Cross-validates every candidate in ``names`` (its row printed and kept in ``report``); returns
    the exemplar candidate with the best mean of micro- and macro-F1."""
    print(f"{'method':<28} {'thr':>5} {'micro':>6} {'macro':>6}  " + " ".join(f"{t[:12]:>12}" for t in ids))
    print_row("keyword regex", "", report["keywords"], ids)
    best_name, best_key = None, -1.0
    for name in names:
        cfg = CANDIDATES[name]
        t0 = time.time()
        thr, s, _ = cross_validate(model, data, Y, ids, cfg, folds_list, tuning)
        report["candidates"][name] = {"config": cfg, "threshold": thr, **s}
        print_row(name, f"{thr:5.2f}", s, ids, f"   ({time.time() - t0:.0f} s)")
        key = (s["micro_f1"] + s["macro_f1"]) / 2
        if cfg["method"] == "exemplars" and key > best_key:
            best_name, best_key = name, key
    return best_name


def dev_scores(articles, Y, ids, is_dev, cfg, threshold, model, data, tuning) -> dict:
    """The chosen configuration fitted on the non-dev articles and scored once on dev."""
    tr, te = np.flatnonzero(~is_dev), np.flatnonzero(is_dev)
    m, d = tuning.fit(cfg["tune"], tr)[:2] if cfg.get("tune") else (model, data)
    p = (fit_predict(m, d, Y, ids, cfg, tr, te) >= threshold).astype(float)
    dev = {
        "n_articles": int(len(te)),
        **mean_f1(Y[te], [p], ids),
        "keywords": keyword_table([articles[i] for i in te], Y[te], ids),
    }
    print(
        f"dev ({len(te)} articles; fitted on the other {len(tr)}): micro {dev['micro_f1']:.3f} macro {dev['macro_f1']:.3f} "
        f"(keywords {dev['keywords']['micro_f1']:.3f} / {dev['keywords']['macro_f1']:.3f})"
    )
    return dev


def exemplar_file(args, out: Path) -> Path:
    if args.exemplars:
        return Path(args.exemplars)
    if out.resolve() == DEFAULT_TAXONOMY.resolve():
        return DEFAULT_TAXONOMY.parents[3] / "models" / "topics-minilm-exemplars" / "exemplars.safetensors"
    return out.with_suffix(".exemplars.safetensors")


def save_tuned_layers(encoder, top, path: Path, meta: dict, cfg: dict, seed: int, n: int) -> None:
    from safetensors.torch import save_file

    save_file(
        tuned_state(encoder, top),
        str(path),
        metadata={
            "base": meta["encoder"],
            "method": meta["method"],
            "tune": json.dumps(cfg["tune"], sort_keys=True),
            "seed": str(seed),
            "n_articles": str(n),
        },
    )


def write_calibration(taxonomy, cals, threshold, default, cfg, args, paths: dict, cv: dict, alias_bonus) -> None:
    """The fitted model into the taxonomy: per-topic calibrations and threshold, and its embedding block
    (features, the files in ``paths`` relative to the taxonomy ``paths["out"]``, default, CV summary)."""
    for t in taxonomy.topics:
        if t.id in cals:
            t.calibration["embedding"] = cals[t.id]
        else:
            t.calibration.pop("embedding", None)
        t.threshold = threshold
    if args.version:
        taxonomy.version = args.version
    folder = paths["out"].resolve().parent
    block = taxonomy.calibration.setdefault("embedding", {})
    block.update(
        {
            "model": "all-MiniLM-L6-v2" if not args.model else str(args.model),
            "features": list(cfg.get("features", FEATURES)),
            "exemplars": os.path.relpath(paths["exemplars"].resolve(), folder),
            **({"encoder_weights": os.path.relpath(paths["weights"].resolve(), folder)} if "weights" in paths else {}),
            "default": default,
            "cv": cv,
        }
    )
    if "weights" not in paths:
        block.pop("encoder_weights", None)
    block.setdefault("alias_bonus", alias_bonus)


def write_model(args, taxonomy, report, model, data, Y, tuning) -> None:
    """The chosen configuration fitted on every article, written: exemplars, tuned layers, taxonomy."""
    ids, n, name = taxonomy.ids, len(Y), report["chosen"]
    cfg, threshold = CANDIDATES[name], report["candidates"][name]["threshold"]
    top = None
    if cfg.get("tune"):
        print(f"tuning the encoder on all {n} articles")
        model, data, top = tuning.fit(cfg["tune"], np.arange(n))
    ex, cals, default = fit_final(model, data, Y, ids, cfg, np.arange(n))
    out = Path(args.out or args.topics or DEFAULT_TAXONOMY)
    paths = {"out": out, "exemplars": exemplar_file(args, out)}
    paths["exemplars"].parent.mkdir(parents=True, exist_ok=True)
    ex.meta = {
        "encoder": "all-MiniLM-L6-v2" if not args.model else str(args.model),
        "method": name,
        "n_articles": n,
        "taxonomy": taxonomy.name,
    }
    ex.save(paths["exemplars"])
    if top is not None:
        paths["weights"] = paths["exemplars"].parent / "encoder-tuned.safetensors"
        save_tuned_layers(tuning.encoder, top, paths["weights"], ex.meta, cfg, args.seed, n)
    cv = {
        "method": name,
        "folds": args.folds,
        "repeats": args.repeats,
        "seed": args.seed,
        "n_articles": n,
        "threshold": threshold,
        **{k: report["candidates"][name][k] for k in ("micro_f1", "macro_f1", "per_topic_f1")},
    }
    write_calibration(taxonomy, cals, threshold, default, cfg, args, paths, cv, model.alias_bonus)
    save_taxonomy(taxonomy, out)
    print(f"wrote {out} and {paths['exemplars']}" + (f" and {paths['weights']}" if top is not None else ""))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    taxonomy = load_taxonomy(args.topics)
    ids = taxonomy.ids
    articles, Y, is_dev = read_pool(args.data, args.dev, ids)
    n = len(articles)
    print(
        f"train-topics: {n} labelled articles ({int(is_dev.sum())} dev), topics {ids}, support {Y.sum(0).astype(int).tolist()}"
    )
    settings = offline_settings(args.inference_backend)
    model = load_topic_model(untrained(taxonomy), "embedding", args.model, settings)
    engine = f"{args.model or 'all-MiniLM-L6-v2'} on {settings.backend}"
    data = PassageData.cached(model, articles, args.cache, engine) if args.cache else PassageData(model, articles)
    print(f"encoded {data.n_passages} passages in {data.seconds:.1f} s ({data.seconds / n:.4f} s/article)")

    folds_list = fold_indices(n, args.folds, args.repeats, args.seed)
    tuning = EncoderTuning(taxonomy, model, data, Y, settings, args.model, seed=args.seed)
    report = {
        "n_articles": n,
        "support": dict(zip(ids, Y.sum(0).astype(int).tolist())),
        "folds": f"{args.folds}-fold x {args.repeats}: fold f of repeat r = "
        f"numpy.random.default_rng({args.seed}+r).permutation({n})[f::{args.folds}], articles in file order "
        + " + ".join(args.data + ([args.dev] if args.dev else [])),
        "keywords": keyword_table(articles, Y, ids),
        "candidates": {},
    }
    best_name = choose_candidate(args.candidates.split(","), model, data, Y, ids, folds_list, tuning, report)
    if best_name is None:
        print("no exemplar candidate evaluated: nothing to write", file=sys.stderr)
        return 2
    report["chosen"] = best_name
    threshold = report["candidates"][best_name]["threshold"]
    print(f"chosen: {best_name} at threshold {threshold}")
    if is_dev.any() and (~is_dev).any():
        report["dev"] = dev_scores(articles, Y, ids, is_dev, CANDIDATES[best_name], threshold, model, data, tuning)
    write_model(args, taxonomy, report, model, data, Y, tuning)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1, default=float) + "\n", encoding="utf-8")
        print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
