"""CoNLL-2003 reading: sentences as text plus gold character spans (for training and evaluation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def token_spans(self) -> list[tuple[int, int]]:
        spans, pos = [], 0
        for tok in self.tokens:
            spans.append((pos, pos + len(tok)))
            pos += len(tok) + 1
        return spans

    def entity_tokens(self) -> list[tuple[int, int, str]]:
        """(first token, end token, type) of each entity, IOB2 read leniently (an I- after O opens an entity)."""
        out: list[list] = []
        for k, tag in enumerate(self.tags):
            prefix, _, etype = tag.partition("-")
            if tag == "O":
                continue
            if prefix == "I" and out and out[-1][1] == k and out[-1][2] == etype:
                out[-1][1] = k + 1
            else:
                out.append([k, k + 1, etype])
        return [(a, b, t) for a, b, t in out]

    def entities(self) -> set[tuple[int, int, str]]:
        """Gold (start, end, type) character spans of ``entity_tokens``."""
        spans = self.token_spans()
        return {(spans[a][0], spans[b - 1][1], t) for a, b, t in self.entity_tokens()}


def read_conll(path: str | Path) -> list[Sentence]:
    sentences, tokens, tags = [], [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("-DOCSTART-"):
                if tokens:
                    sentences.append(Sentence(tokens, tags))
                tokens, tags = [], []
                continue
            parts = line.split()
            tokens.append(parts[0])
            tags.append(parts[-1])
    if tokens:
        sentences.append(Sentence(tokens, tags))
    return sentences


def join_sentences(sentences: list[Sentence], n: int) -> list[Sentence]:
    """Every ``n`` consecutive sentences as one (tokens joined by single spaces; IOB2 tags keep each
    entity inside its own sentence), for measuring NER on texts longer than one model window."""
    if n <= 1:
        return sentences
    return [
        Sentence([t for s in sentences[i : i + n] for t in s.tokens], [t for s in sentences[i : i + n] for t in s.tags])
        for i in range(0, len(sentences), n)
    ]
