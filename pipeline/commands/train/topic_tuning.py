"""Fine-tuning the topic encoder's top layer(s) on labelled articles (used by ``news-ingest train-topics``).

The labels belong to articles, not passages, so the objective is multiple-instance: per topic k a unit
vector c_k (initialised at the mean of the topic's anchor embeddings), and for an article

    score_k = tau * logsumexp over its candidate passages p of ( cos(e_p, c_k) + alias_bonus * [alias in p] ) / tau
    P(k)    = sigmoid(a_k * score_k + b_k)

(``score_k`` is the evidence feature of transforms/topics/embedding.py with the max made smooth), trained
with binary cross-entropy on the article labels. The candidate passages of an article are its
``candidates`` best passages by evidence under the packaged encoder (what the max would pick among).
Only the encoder's top ``layers`` transformer layers learn; c_k, a_k and b_k are thrown away after
training: the tuned encoder then goes through the usual exemplars + per-topic calibration. Because the
lower layers stay frozen, their output for every passage is computed once (``LayerInputs``) and shared by
all cross-validation folds: a fold costs a few epochs of the top layer(s) plus one pass of them over the
passages.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transforms.topics.encoder import mean_pooled


@dataclass
class TuneConfig:
    layers: int = 1
    epochs: int = 4
    lr: float = 1e-4
    candidates: int = 8
    tau: float = 0.05
    batch: int = 16

    @classmethod
    def from_dict(cls, d: dict) -> TuneConfig:
        return cls(**d)


def _additive_mask(attention_mask):
    import torch

    return (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


class LayerInputs:
    """For every text, the hidden states entering the encoder's top ``layers`` layers (fp32, unpadded),
    computed once with the frozen lower layers. ``embed``/``forward`` finish the encoder with any copy of
    the top layers: mean pooling and L2 normalisation as in SentenceEncoder.encode."""

    def __init__(self, encoder, texts: Sequence[str], layers: int, batch: int = 64):
        import torch

        model = encoder.model.eval()
        self.layers = layers
        self.first_tuned = len(model.encoder.layer) - layers
        tok = encoder.tokenizer(list(texts), truncation=True, max_length=encoder.max_length)
        ids = tok["input_ids"]
        self.lengths = np.array([len(x) for x in ids])
        self.states: list = [None] * len(ids)
        order = np.argsort(self.lengths, kind="stable")
        with torch.inference_mode():
            for s in range(0, len(order), batch):
                rows = order[s : s + batch]
                width = int(self.lengths[rows].max())
                input_ids = torch.tensor([ids[i] + [0] * (width - len(ids[i])) for i in rows])
                mask = torch.tensor([[1] * len(ids[i]) + [0] * (width - len(ids[i])) for i in rows])
                h = model.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
                add = _additive_mask(mask)
                for layer in model.encoder.layer[: self.first_tuned]:
                    h = layer(h, attention_mask=add)
                    h = h[0] if isinstance(h, tuple) else h
                for j, i in enumerate(rows):
                    self.states[i] = h[j, : self.lengths[i]].clone()

    def forward(self, top, rows: Sequence[int]):
        """Pooled, normalised embeddings of ``rows`` through the layers ``top`` (differentiable)."""
        import torch

        rows = np.asarray(rows)
        width = int(self.lengths[rows].max())
        h = torch.zeros(len(rows), width, self.states[rows[0]].shape[1])
        mask = torch.zeros(len(rows), width)
        for j, i in enumerate(rows):
            h[j, : self.lengths[i]] = self.states[i]
            mask[j, : self.lengths[i]] = 1
        add = _additive_mask(mask)
        for layer in top:
            h = layer(h, attention_mask=add)
            h = h[0] if isinstance(h, tuple) else h
        return mean_pooled(h, mask)

    def embed(self, top, batch: int = 128) -> np.ndarray:
        import torch

        order = np.argsort(self.lengths, kind="stable")
        out = np.zeros((len(self.states), self.states[0].shape[1]), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, len(order), batch):
                rows = order[s : s + batch]
                out[rows] = self.forward(top, rows).numpy()
        return out


def top_layers(encoder, layers: int):
    import torch

    return torch.nn.ModuleList(copy.deepcopy(list(encoder.model.encoder.layer[-layers:])))


def tune(
    encoder,
    inputs: LayerInputs,
    candidates: Sequence[np.ndarray],
    hits: Sequence[np.ndarray],
    anchor_means: np.ndarray,
    Y: np.ndarray,
    train: Sequence[int],
    cfg: TuneConfig,
    alias_bonus: float,
    seed: int = 0,
    log=None,
):
    """A tuned copy of the encoder's top layers, trained on the articles ``train``. ``candidates[i]``:
    the rows (in ``inputs``) of article i's candidate passages; ``hits[i]``: their alias hits
    [n_candidates, n_topics]; ``anchor_means``: [n_topics, dim] initial topic vectors."""
    import torch

    torch.manual_seed(seed)
    top = top_layers(encoder, cfg.layers).train()
    n_topics = Y.shape[1]
    centres = torch.nn.Parameter(torch.nn.functional.normalize(torch.tensor(anchor_means, dtype=torch.float32), dim=1))
    # a, b start where the zero-shot fallback calibration is (probability 0.5 at evidence 0.5)
    slope = torch.nn.Parameter(torch.full((n_topics,), 20.0))
    bias = torch.nn.Parameter(torch.full((n_topics,), -10.0))
    opt = torch.optim.AdamW(
        [
            {"params": top.parameters(), "lr": cfg.lr, "weight_decay": 0.0},
            {"params": [centres, slope, bias], "lr": 1e-2, "weight_decay": 0.0},
        ]
    )
    labels = torch.tensor(Y, dtype=torch.float32)
    rng = np.random.default_rng(seed)
    train = np.asarray(train)
    for epoch in range(cfg.epochs):
        total = 0.0
        for arts in np.array_split(rng.permutation(train), max(1, -(-len(train) // cfg.batch))):
            rows = np.concatenate([candidates[i] for i in arts])
            e = inputs.forward(top, rows)
            ev = e @ torch.nn.functional.normalize(centres, dim=1).T
            ev = ev + alias_bonus * torch.tensor(np.concatenate([hits[i] for i in arts]), dtype=torch.float32)
            scores, o = [], 0
            for i in arts:
                k = len(candidates[i])
                scores.append(cfg.tau * torch.logsumexp(ev[o : o + k] / cfg.tau, 0))
                o += k
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                slope * torch.stack(scores) + bias, labels[arts]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(arts)
        if log:
            log(f"    tuning epoch {epoch + 1}/{cfg.epochs}: loss {total / len(train):.4f}")
    round_to_fp16(top)
    return top.eval()


def tuned_encoder(encoder, top):
    """A copy of ``encoder`` whose top layers are ``top``."""
    model = copy.deepcopy(encoder.model)
    n = len(model.encoder.layer)
    for j, layer in enumerate(top):
        model.encoder.layer[n - len(top) + j] = copy.deepcopy(layer)
    model.eval()
    return type(encoder)(model, encoder.tokenizer, max_length=encoder.max_length, batch_size=encoder.batch_size)


def tuned_state(encoder, top) -> dict:
    """The tuned layers as a state dict named like the encoder's own parameters (fp16, as shipped)."""
    n = len(encoder.model.encoder.layer)
    out = {}
    for j, layer in enumerate(top):
        for name, tensor in layer.state_dict().items():
            out[f"encoder.layer.{n - len(top) + j}.{name}"] = tensor.detach().to("cpu").half().contiguous()
    return out


def round_to_fp16(top) -> None:
    """Round the tuned layers' weights to what the fp16 file keeps, so exemplars and calibration are
    fitted with exactly the weights that ship."""
    import torch

    with torch.no_grad():
        for p in top.parameters():
            p.copy_(p.half().float())
