"""The NLI topic model: the Hugging Face zero-shot-classification approach, multi-label.

For every (premise, hypothesis) pair the entailment model gives logits over its labels; as in the HF
pipeline with ``multi_label=True`` the probability that the hypothesis holds is the softmax over
[contradiction, entailment] only. The premise is each passage of the article (the title and windows
of whole sentences that fit the model), so a topic discussed in one paragraph is found; a topic's
probability for the article is the maximum over passages, averaged over the topic's hypotheses
(default: "This text is about {name}."; the template is configurable).

Features for calibration: ``entail_logit`` (logit of that probability) and ``alias`` (1 when an alias
of the topic occurs in the article). Without a fitted calibration the score is the plain HF
probability (weights {entail_logit: 1}).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from transforms.article import Article
from transforms.inference.loading import load_model, load_tokenizer
from transforms.inference.settings import InferenceSettings
from transforms.topics.handler import TopicModelHandler
from transforms.topics.passages import alias_count, alias_pattern, split_passages
from transforms.topics.scoring import CalibratedTopicModel
from transforms.topics.taxonomy import Calibration, Taxonomy, Topic

FEATURES = ("entail_logit", "alias")
DEFAULT_TEMPLATE = "This text is about {}."
IDENTITY_CALIBRATION = Calibration(weights={"entail_logit": 1.0}, bias=0.0)


def label_index(config, name: str) -> int | None:
    """Index of the label whose name starts with `name` (case-insensitive) in config.label2id."""
    for label, idx in (getattr(config, "label2id", None) or {}).items():
        if str(label).lower().startswith(name):
            return int(idx)
    return None


def nli_indices(config) -> tuple[int, int]:
    """(entailment, contradiction) logit indices, as the HF zero-shot pipeline finds them."""
    ent = label_index(config, "entail")
    con = label_index(config, "contra")
    if ent is None:
        raise ValueError(
            "the NLI model's config.label2id has no 'entailment' label "
            f"({getattr(config, 'label2id', None)}); it is not an NLI model"
        )
    if con is None:  # two-label models: the other one
        others = [i for i in range(int(config.num_labels)) if i != ent]
        con = others[0]
    return ent, con


def hypotheses_for(topic: Topic, template: str = DEFAULT_TEMPLATE) -> list[str]:
    return list(topic.hypotheses) or [template.format(topic.name)]


def sentence_windows(passages: Sequence[str], tokenizer, max_tokens: int) -> list[str]:
    """Group consecutive sentences into windows of at most ~max_tokens tokens (title stays alone)."""
    if not passages:
        return [" "]
    out = [passages[0]]
    cur: list[str] = []
    cur_len = 0
    for p in passages[1:]:
        n = len(tokenizer.tokenize(p))
        if cur and cur_len + n > max_tokens:
            out.append(" ".join(cur))
            cur, cur_len = [], 0
        cur.append(p)
        cur_len += n
    if cur:
        out.append(" ".join(cur))
    return out


class NliTopicModel(CalibratedTopicModel):
    """Scores articles against a taxonomy with an entailment model (see the module docstring)."""

    method = "nli"

    def __init__(
        self,
        taxonomy: Taxonomy,
        model,
        tokenizer,
        template: str = DEFAULT_TEMPLATE,
        max_length: int = 256,
        window_tokens: int = 160,
        batch_size: int = 16,
    ):
        self.taxonomy = taxonomy
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.max_length = max_length
        self.window_tokens = window_tokens
        self.batch_size = batch_size
        self.entail, self.contra = nli_indices(model.config)
        self.hypotheses = [hypotheses_for(t, template) for t in taxonomy.topics]
        self.patterns = [alias_pattern(t.aliases) for t in taxonomy.topics]
        self.calibrations = [
            taxonomy.topic_calibration(self.method, t) or IDENTITY_CALIBRATION for t in taxonomy.topics
        ]

    @classmethod
    def load(cls, taxonomy: Taxonomy, model_name: str, allow_download: bool = False, **kw) -> NliTopicModel:
        from transformers import AutoModelForSequenceClassification

        model = load_model(AutoModelForSequenceClassification, model_name, allow_download)
        return cls(taxonomy, model, load_tokenizer(model_name, allow_download), **kw)

    def _entailment(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(entailment) from softmax over [contradiction, entailment] for each pair."""
        import torch

        out = np.zeros(len(pairs), dtype=np.float64)
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self.tokenizer(
                    [pairs[i][0] for i in idx],
                    [pairs[i][1] for i in idx],
                    padding=True,
                    truncation="only_first",
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                logits = self.model(**enc).logits.float()
                two = logits[:, [self.contra, self.entail]]
                out[idx] = torch.softmax(two, dim=-1)[:, 1].numpy()
        return out

    def features(self, articles: Sequence[Article]) -> list[dict[str, dict[str, float]]]:
        pairs: list[tuple[str, str]] = []
        keys: list[tuple[int, int, int]] = []  # (article, topic, hypothesis)
        for a_i, a in enumerate(articles):
            windows = sentence_windows(split_passages(a.title, a.text), self.tokenizer, self.window_tokens)
            for t_i, hyps in enumerate(self.hypotheses):
                for h_i, h in enumerate(hyps):
                    for w in windows:
                        pairs.append((w, h))
                        keys.append((a_i, t_i, h_i))
        # one article's pairs per forward pass group: its scores never depend on its batch neighbours
        probs = np.zeros(len(pairs))
        owners = np.array([k[0] for k in keys], dtype=int)
        for a_i in range(len(articles)):
            rows = np.flatnonzero(owners == a_i)
            if len(rows):
                probs[rows] = self._entailment([pairs[r] for r in rows])
        best: dict[tuple[int, int, int], float] = {}
        for key, p in zip(keys, probs):
            best[key] = max(best.get(key, 0.0), float(p))
        out = []
        for a_i, a in enumerate(articles):
            feats = {}
            for t_i, topic in enumerate(self.taxonomy.topics):
                p = float(np.mean([best[(a_i, t_i, h_i)] for h_i in range(len(self.hypotheses[t_i]))]))
                p = min(max(p, 1e-6), 1 - 1e-6)
                feats[topic.id] = {
                    "entail_logit": math.log(p / (1 - p)),
                    "alias": float(alias_count(self.patterns[t_i], a.title, a.text) > 0),
                }
            out.append(feats)
        return out


class NliTopicModelHandler(TopicModelHandler):
    """RunInference handler for an entailment (MNLI-style) model: Article -> TopicResult."""

    method = "nli"
    metrics_namespace = "news_ingest_topics_nli"

    def __init__(
        self,
        taxonomy: Taxonomy,
        model_name: str | None = None,
        settings: InferenceSettings | None = None,
        template: str = DEFAULT_TEMPLATE,
    ):
        if not model_name:
            raise ValueError("the nli topic method needs a model (a local NLI model directory or hub id)")
        super().__init__(taxonomy, model_name, settings)
        self.template = template

    def load_model(self) -> NliTopicModel:
        model = NliTopicModel.load(self.taxonomy, self.model_name, self.allow_download, template=self.template)
        model.model = self.engine(model.model, "logits")
        return model
