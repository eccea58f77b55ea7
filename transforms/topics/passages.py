"""An article as the passages the topic models read (its title and sentences), and the regex that
finds a topic's aliases in them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from transforms.text import word_boundary_end

# A sentence ends at . ! ? or … followed by whitespace and a capital or a digit (perhaps after an opening
# quote or bracket); closing quotes and brackets between the two are dropped with the whitespace.
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
                cut = word_boundary_end(sent, max_chars)
                out.append(sent[:cut].strip())
                sent = sent[cut:].strip()
            if len(sent) >= 3:
                out.append(sent)
            if len(out) >= max_passages:
                return out[:max_passages]
    return out


def alias_pattern(aliases: Sequence[str]) -> re.Pattern | None:
    """One regex for a topic's aliases. Word boundaries at both ends; a trailing '*' matches any word
    ending (also inside a phrase: 'clos* the sky'). Lowercase letters match either case, uppercase
    letters only uppercase ('Patriot' matches 'Patriot'/'PATRIOT' but not 'patriot'; 'NABU' does not
    match 'nabu')."""
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
    # longest first: an alternation takes the first branch that matches, and a longer alias must win
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(parts, key=len, reverse=True)) + r")(?!\w)")


def alias_count(pattern: re.Pattern | None, title: str, text: str) -> int:
    """How often the topic's aliases occur in the title and the text (0 for a topic without aliases)."""
    if pattern is None:
        return 0
    return len(pattern.findall(title or "")) + len(pattern.findall(text or ""))
