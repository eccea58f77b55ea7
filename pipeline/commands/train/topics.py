"""news-ingest train-topics: fit the embedding topic model's labelled part (exemplars + per-topic
calibration + threshold) from labelled articles, selected by cross-validation.

    news-ingest train-topics --data LABELLED.jsonl [--data MORE.jsonl ...] [--dev DEV.jsonl]
                             [--topics FILE] [--out FILE] [--exemplars PATH] [--report JSON]
                             [--folds 5] [--repeats 3] [--seed 0] [--model DIR]

What is learned from the labels, per topic that has them:

* for candidates with ``tune``: the encoder's top layer(s), fine-tuned on the article labels
  (pipeline/commands/train/topic_tuning.py; the same architecture, so topics cost what they cost before),
  saved next to the exemplars (``encoder-tuned.safetensors``) and referenced by the taxonomy
  (``calibration.embedding.encoder_weights``); everything below is then computed with the tuned encoder;
* exemplars: the best-evidence passages of the articles labelled with the topic (positives) and of
  those not labelled with it (near misses), stored as embeddings in a safetensors file that the
  taxonomy references (``calibration.embedding.exemplars``);
* a logistic calibration on (evidence, knn, evknn) (see transforms/topics/embedding.py);
* one global decision threshold.

Selection is by repeated k-fold cross-validation over ALL the labelled articles (--data and --dev
together): fold f of repeat r is ``numpy.random.default_rng(seed + r).permutation(n)[f::folds]``, in
the order the files are given. Each fold picks its exemplars and fits its calibration on the other
folds only (and a training article's own passages never serve as its exemplars; a tuned candidate
tunes the encoder on the other folds too), so the table is out-of-fold. The candidate configurations (CANDIDATES) and the threshold are chosen on the mean of
micro- and macro-F1; the keyword regex is scored on the same articles. With --dev, the chosen
configuration is also fitted on the non-dev articles only and scored once on dev. The shipped model
is then fitted on all articles. Topics with no labelled positive keep the zero-shot default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.commands.train.calibrate import (
    THRESHOLD_GRID,
    PooledLogistic,
    f1_scores,
    label_matrix,
    newton_logistic,
    read_labelled,
)
from transforms.topics.taxonomy import Calibration, Taxonomy, load_taxonomy, save_taxonomy

# Encoder tuning of the tuned candidates (TuneConfig in pipeline/commands/train/topic_tuning.py).
TUNED = {"layers": 2, "epochs": 4, "lr": 1e-4, "candidates": 8, "tau": 0.05, "batch": 16}

# name -> settings. "pooled" is the previous method (evidence only, shared slope, bias per topic).
# Bigger exemplar sets cost more per article at run time (every passage meets every exemplar): 3
# positives / 20 near misses per article (~7,500 exemplars per topic) measured 0.888 / 0.868 in
# exploration but about +50% seconds per article, over the 20% budget; these stay within it.
CANDIDATES: dict[str, dict] = {
    "pooled-evidence": {"method": "pooled"},
    "exemplars-1/3-top3": {"method": "exemplars", "npos": 1, "nneg": 3, "top_k": 3, "C": 1.0},
    "exemplars-2/5-top3": {"method": "exemplars", "npos": 2, "nneg": 5, "top_k": 3, "C": 1.0},
    "exemplars-1/3-top3-C0.3": {"method": "exemplars", "npos": 1, "nneg": 3, "top_k": 3, "C": 0.3},
    "exemplars-1/3-top3+2": {
        "method": "exemplars",
        "npos": 1,
        "nneg": 3,
        "top_k": 3,
        "C": 1.0,
        "features": ("evidence", "knn", "evknn", "evknn2", "alias_frac"),
    },
    # the same exemplar methods on an encoder whose last two layers are fine-tuned on the labels (the three
    # share one tuning per fold); tuning settings chosen on repeat 0 of the same folds (model card)
    "tuned2-exemplars-1/3-top3-C0.3": {
        "method": "exemplars",
        "npos": 1,
        "nneg": 3,
        "top_k": 3,
        "C": 0.3,
        "tune": TUNED,
    },
    "tuned2-exemplars-1/3-top3-C1": {"method": "exemplars", "npos": 1, "nneg": 3, "top_k": 3, "C": 1.0, "tune": TUNED},
    "tuned2-exemplars-1/3-top3-C0.3+alias_n": {
        "method": "exemplars",
        "npos": 1,
        "nneg": 3,
        "top_k": 3,
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
    def cached(cls, model, articles, path: str, log=print) -> PassageData:
        """Embeddings from `path` when it holds these articles' passages, else encoded and saved there."""
        import hashlib

        from transforms.topics.embedding import split_passages

        passages = [split_passages(a.title, a.text) or [" "] for a in articles]
        key = hashlib.sha256(json.dumps([[a.id for a in articles], passages]).encode()).hexdigest()
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


class EncoderTuning:
    """Fine-tunes the encoder's top layer(s) on a set of training articles (pipeline/commands/train/topic_tuning.py)
    and re-embeds every article's passages and the taxonomy's anchors with the result. The frozen lower
    layers' outputs are computed once and shared by every fold."""

    def __init__(self, taxonomy: Taxonomy, encoder, model, data: PassageData, Y: np.ndarray, seed: int = 0, log=print):
        self.taxonomy, self.encoder, self.model, self.data, self.Y = taxonomy, encoder, model, data, Y
        self.seed, self.log = seed, log
        sizes = [len(e) for e in data.emb]
        self.offsets = np.r_[0, np.cumsum(sizes)]
        self.texts = [p for ps in data.passages for p in ps]
        self.anchor_means = np.stack([t.anchors.mean(0) for t in model.topics])
        self._inputs = {}
        self._fits = {}  # (tune settings, training articles) -> fit: candidates sharing a tuning share its folds

    def inputs(self, layers: int):
        from pipeline.commands.train.topic_tuning import LayerInputs

        if layers not in self._inputs:
            t0 = time.time()
            self._inputs[layers] = LayerInputs(self.encoder, self.texts, layers)
            self.log(f"  inputs of the top {layers} layer(s) for {len(self.texts)} passages ({time.time() - t0:.0f} s)")
        return self._inputs[layers]

    def fit(self, tune: dict, train: np.ndarray):
        """(model, data, top layers, tuned encoder) for an encoder tuned on the articles ``train``."""
        from pipeline.commands.train.topic_tuning import TuneConfig

        cfg = TuneConfig.from_dict(tune)
        key = (json.dumps(vars(cfg), sort_keys=True), np.asarray(train).tobytes())
        if key not in self._fits:
            self._fits[key] = self._fit(cfg, np.asarray(train))
        return self._fits[key]

    def _fit(self, cfg, train: np.ndarray):
        from pipeline.commands.train.topic_tuning import tune as tune_layers
        from pipeline.commands.train.topic_tuning import tuned_encoder
        from transforms.topics.embedding import EmbeddingTopicModel

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
        encoder = tuned_encoder(self.encoder, top)
        model = EmbeddingTopicModel(self.taxonomy, encoder, use_exemplars=False)
        flat = inputs.embed(top)
        data = PassageData.from_embeddings(
            model, self.data.passages, [flat[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]
        )
        return model, data, top, encoder


def select_exemplars(
    data: PassageData, Y: np.ndarray, ids: Sequence[str], train: np.ndarray, npos: int, nneg: int, top_k: int
):
    """Exemplars from the training articles only, with the owning article of each exemplar."""
    from transforms.topics.embedding import Exemplars

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


def summarise(Y, preds: Sequence[np.ndarray], ids) -> dict:
    runs = [f1_scores(Y, p) for p in preds]
    return {
        "micro_f1": round(float(np.mean([r["micro_f1"] for r in runs])), 4),
        "macro_f1": round(float(np.mean([r["macro_f1"] for r in runs])), 4),
        "per_topic_f1": {t: round(float(np.mean([r["f1"][k] for r in runs])), 4) for k, t in enumerate(ids)},
    }


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
        s = summarise(Y, [(o >= thr).astype(float) for o in oofs], ids)
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
    from transforms.topics.keywords import keyword_labels

    pred = np.array([[t in keyword_labels(a, ids) for t in ids] for a in articles], dtype=float)
    return summarise(Y, [pred], ids)


def main(argv: Sequence[str] | None = None) -> int:
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
    args = ap.parse_args(argv)

    import os

    from transforms.topics.embedding import EmbeddingTopicModel, SentenceEncoder
    from transforms.topics.taxonomy import DEFAULT_TAXONOMY

    taxonomy = load_taxonomy(args.topics)
    ids = taxonomy.ids
    articles, labels, is_dev = [], [], []
    for path in args.data + ([args.dev] if args.dev else []):
        a, l = read_labelled(path)
        articles += a
        labels += l
        is_dev += [path == args.dev] * len(a)
    Y = label_matrix(labels, ids)
    is_dev = np.asarray(is_dev)
    n = len(articles)
    print(
        f"train-topics: {n} labelled articles ({int(is_dev.sum())} dev), topics {ids}, support {Y.sum(0).astype(int).tolist()}"
    )
    encoder = SentenceEncoder.load(args.model)
    model = EmbeddingTopicModel(taxonomy, encoder, use_exemplars=False)
    data = PassageData.cached(model, articles, args.cache) if args.cache else PassageData(model, articles)
    print(f"encoded {data.n_passages} passages in {data.seconds:.1f} s ({data.seconds / n:.4f} s/article)")

    folds_list = fold_indices(n, args.folds, args.repeats, args.seed)
    tuning = EncoderTuning(taxonomy, encoder, model, data, Y, seed=args.seed)
    report = {
        "n_articles": n,
        "support": dict(zip(ids, Y.sum(0).astype(int).tolist())),
        "folds": f"{args.folds}-fold x {args.repeats}: fold f of repeat r = "
        f"numpy.random.default_rng({args.seed}+r).permutation({n})[f::{args.folds}], articles in file order "
        + " + ".join(args.data + ([args.dev] if args.dev else [])),
        "keywords": keyword_table(articles, Y, ids),
        "candidates": {},
    }
    kw = report["keywords"]
    print(f"{'method':<28} {'thr':>5} {'micro':>6} {'macro':>6}  " + " ".join(f"{t[:12]:>12}" for t in ids))
    print(
        f"{'keyword regex':<28} {'':>5} {kw['micro_f1']:6.3f} {kw['macro_f1']:6.3f}  "
        + " ".join(f"{kw['per_topic_f1'][t]:12.3f}" for t in ids)
    )
    best_name, best_key = None, -1.0
    for name in args.candidates.split(","):
        cfg = CANDIDATES[name]
        t0 = time.time()
        thr, s, _ = cross_validate(model, data, Y, ids, cfg, folds_list, tuning)
        report["candidates"][name] = {"config": cfg, "threshold": thr, **s}
        print(
            f"{name:<28} {thr:5.2f} {s['micro_f1']:6.3f} {s['macro_f1']:6.3f}  "
            + " ".join(f"{s['per_topic_f1'][t]:12.3f}" for t in ids)
            + f"   ({time.time() - t0:.0f} s)",
            flush=True,
        )
        key = (s["micro_f1"] + s["macro_f1"]) / 2
        if cfg["method"] == "exemplars" and key > best_key:
            best_name, best_key = name, key
    if best_name is None:
        print("no exemplar candidate evaluated: nothing to write", file=sys.stderr)
        return 2
    cfg = CANDIDATES[best_name]
    threshold = report["candidates"][best_name]["threshold"]
    report["chosen"] = best_name
    print(f"chosen: {best_name} at threshold {threshold}")

    if is_dev.any() and (~is_dev).any():
        tr, te = np.flatnonzero(~is_dev), np.flatnonzero(is_dev)
        m, d = tuning.fit(cfg["tune"], tr)[:2] if cfg.get("tune") else (model, data)
        p = (fit_predict(m, d, Y, ids, cfg, tr, te) >= threshold).astype(float)
        report["dev"] = {
            "n_articles": int(len(te)),
            **summarise(Y[te], [p], ids),
            "keywords": keyword_table([articles[i] for i in te], Y[te], ids),
        }
        d = report["dev"]
        print(
            f"dev ({len(te)} articles; fitted on the other {len(tr)}): micro {d['micro_f1']:.3f} macro {d['macro_f1']:.3f} "
            f"(keywords {d['keywords']['micro_f1']:.3f} / {d['keywords']['macro_f1']:.3f})"
        )

    top = None
    if cfg.get("tune"):
        print(f"tuning the encoder on all {n} articles")
        model, data, top, _ = tuning.fit(cfg["tune"], np.arange(n))
    ex, cals, default = fit_final(model, data, Y, ids, cfg, np.arange(n))
    out = Path(args.out or args.topics or DEFAULT_TAXONOMY)
    if args.exemplars:
        ex_path = Path(args.exemplars)
    elif out.resolve() == DEFAULT_TAXONOMY.resolve():
        ex_path = DEFAULT_TAXONOMY.parents[3] / "models" / "topics-minilm-exemplars" / "exemplars.safetensors"
    else:
        ex_path = out.with_suffix(".exemplars.safetensors")
    ex_path.parent.mkdir(parents=True, exist_ok=True)
    ex.meta = {
        "encoder": "all-MiniLM-L6-v2" if not args.model else str(args.model),
        "method": best_name,
        "n_articles": n,
        "taxonomy": taxonomy.name,
    }
    ex.save(ex_path)
    weights_path = ex_path.parent / "encoder-tuned.safetensors"
    if top is not None:
        from safetensors.torch import save_file

        from pipeline.commands.train.topic_tuning import tuned_state

        save_file(
            tuned_state(encoder, top),
            str(weights_path),
            metadata={
                "base": ex.meta["encoder"],
                "method": best_name,
                "tune": json.dumps(cfg["tune"], sort_keys=True),
                "seed": str(args.seed),
                "n_articles": str(n),
            },
        )
    for t in taxonomy.topics:
        if t.id in cals:
            t.calibration["embedding"] = cals[t.id]
        else:
            t.calibration.pop("embedding", None)
        t.threshold = threshold
    if args.version:
        taxonomy.version = args.version
    block = taxonomy.calibration.setdefault("embedding", {})
    block.update(
        {
            "model": "all-MiniLM-L6-v2" if not args.model else str(args.model),
            "features": list(cfg.get("features", FEATURES)),
            "exemplars": os.path.relpath(ex_path.resolve(), out.resolve().parent),
            **(
                {"encoder_weights": os.path.relpath(weights_path.resolve(), out.resolve().parent)}
                if top is not None
                else {}
            ),
            "default": default,
            "cv": {
                "method": best_name,
                "folds": args.folds,
                "repeats": args.repeats,
                "seed": args.seed,
                "n_articles": n,
                "threshold": threshold,
                **{k: report["candidates"][best_name][k] for k in ("micro_f1", "macro_f1", "per_topic_f1")},
            },
        }
    )
    if top is None:
        block.pop("encoder_weights", None)
    block.setdefault("alias_bonus", model.alias_bonus)
    save_taxonomy(taxonomy, out)
    print(f"wrote {out} and {ex_path}" + (f" and {weights_path}" if top is not None else ""))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1, default=float) + "\n", encoding="utf-8")
        print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
