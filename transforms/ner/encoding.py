"""Tokenisation shared by NER training and inference.

One function turns texts into model windows so that the model sees exactly the same features when
it is trained and when it runs in the pipeline:

* overlapping windows of at most ``max_length`` tokens (``stride`` tokens shared between neighbours),
  so long articles are never silently truncated;
* character offsets of every token into the original text (fast tokenizers keep them exact even
  when the tokenizer lower-cases or strips accents);
* the pre-tokenizer word of every token, used to aggregate sub-word pieces to word-level labels;
* optionally a *case shape* per token, fed through BERT's ``token_type_ids``. The embedded model is
  built on an uncased backbone; capitalisation is the strongest NER cue in English news, so it gets it
  back as a 4-valued token type (see ``case_shape``). A model opts in with ``case_token_types: true`` in
  its ``config.json``; ordinary Hugging Face models are run without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

CASE_CONFIG_KEY = "case_token_types"
# The pipeline's NER windows (--ner-window/--ner-stride): the embedded model is trained on 128 tokens;
# an overlap of 16 reads 12.5% fewer tokens than 32 at the same dev F1 (docs/models.md, NER).
WINDOW_TOKENS = 128
STRIDE_TOKENS = 16
CASE_SHAPES = 4  # lower/no letters, Title, UPPER, mIxed


@lru_cache(maxsize=1 << 16)  # news repeats its words; this runs once per token
def case_shape(word: str) -> int:
    """0: no upper-case letter, 1: Title-case, 2: ALL CAPS (2+ letters), 3: other mixed case."""
    letters = [c for c in word if c.isalpha()]
    uppers = [c for c in letters if c.isupper()]
    if not uppers:
        return 0
    if len(uppers) == len(letters):
        return 2 if len(letters) > 1 else 1
    if letters[0].isupper() and len(uppers) == 1 and word[0] == letters[0]:
        return 1
    return 3


def _alnum_run(text: str, start: int, end: int) -> str:
    """The maximal run of alphanumeric characters around text[start:end] (its pre-tokenizer word)."""
    a, b = start, max(end, start + 1)
    if start >= len(text) or not text[start].isalnum():
        return text[start:end]
    while a > 0 and text[a - 1].isalnum():
        a -= 1
    while b < len(text) and text[b].isalnum():
        b += 1
    return text[a:b]


@dataclass
class Window:
    """One model input: a slice of one text's tokens."""

    text_index: int  # which input text this window belongs to
    input_ids: list[int]
    token_type_ids: list[int]
    offsets: list[tuple[int, int]]  # (0, 0) for special tokens
    word_ids: list[int | None]  # pre-tokenizer word index in the whole text, None for special tokens

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_windows(
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = WINDOW_TOKENS,
    stride: int = STRIDE_TOKENS,
    case_token_types: bool = False,
) -> list[Window]:
    """Tokenise ``texts`` in one fast-tokenizer call into overlapping windows."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("NER needs a fast (Rust) tokenizer for exact character offsets")
    enc = tokenizer(
        list(texts),
        max_length=max_length,
        stride=stride,
        truncation=True,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=False,
        return_attention_mask=False,
    )
    windows = []
    for i, ids in enumerate(enc["input_ids"]):
        text_index = enc["overflow_to_sample_mapping"][i]
        text = texts[text_index]
        offsets = [tuple(o) for o in enc["offset_mapping"][i]]
        word_ids = enc.word_ids(i)
        if case_token_types:
            shapes: dict[int, int] = {}  # the pieces of one word share its alphanumeric run
            types = []
            for (s, e), w in zip(offsets, word_ids):
                if w is None:
                    types.append(0)
                    continue
                if w not in shapes:
                    shapes[w] = case_shape(_alnum_run(text, s, e))
                types.append(shapes[w])
        else:
            types = [0] * len(ids)
        windows.append(Window(text_index, list(ids), types, offsets, list(word_ids)))
    return windows
