"""A plain keyword-regex topic baseline, written from the wording of the topics' annotation guide. Used
by `news-ingest eval-topics` as the reference a zero-shot model has to beat. A topic is assigned when
any of its regexes matches title or text."""

from __future__ import annotations

import re
from collections.abc import Sequence

from transforms.article import Article

_I = re.IGNORECASE

KEYWORD_PATTERNS: dict[str, list[re.Pattern]] = {
    "air_defense": [
        re.compile(r"\bair[\s-]*defen[cs]e\b|\bmissile[\s-]*defen[cs]e\b|\banti[\s-]?aircraft\b", _I),
        re.compile(r"\b(?:Patriot|IRIS-T|NASAMS|SAMP/T|Crotale|Gepard|S-300|Stingers?)\b"),
        re.compile(r"\bclose the sky\b|\bno[\s-]fly zone\b", _I),
        re.compile(r"\b(?:intercept(?:ed|ion|ions|s)?|shot down|shoot(?:ing)? down)\b", _I),
    ],
    "drones": [
        re.compile(r"\bdrones?\b|\bUAVs?\b|\bunmanned\b", _I),
        re.compile(r"\bShaheds?\b|\bBayraktars?\b|army of drones", _I),
    ],
    "eu_integration": [
        re.compile(r"\bEU membership\b|\bmembership (?:in|of) the (?:EU|European Union)\b", _I),
        re.compile(r"\bcandidate status\b|\baccession (?:talks|negotiations)\b|\bnegotiation clusters?\b", _I),
        re.compile(r"\bjoin(?:ing)? the (?:EU|European Union)\b|\bEuropean integration\b", _I),
        re.compile(r"\bassociation agreement\b|\bquestionnaire\b", _I),
    ],
    "anti_corruption": [
        re.compile(r"\bcorrupt(?:ion|ed)?\b|\banti[\s-]?corruption\b", _I),
        re.compile(r"\b(?:NABU|SAPO|HACC|NACP)\b"),
        re.compile(r"\bbrib(?:e|es|ery|ed)\b|\bembezzle(?:ment|d)?\b|\babuse of office\b", _I),
        re.compile(r"\bsmuggling\b|\bde-?oligarchi[sz]ation\b", _I),
    ],
    "negotiations": [
        re.compile(r"\bpeace (?:talks|negotiations|process|formula|summit|plan|deal)\b", _I),
        re.compile(r"\bnegotiat(?:e|es|ed|ing|ion|ions)\b|\btalks with Russia\b", _I),
        re.compile(r"\bcease-?fire\b|\bprisoner (?:exchange|swap)s?\b|\bfrom captivity\b", _I),
        re.compile(r"\bIstanbul\b.*\btalks\b|\bNormandy format\b|\bMinsk (?:agreements?|talks)\b", _I),
        re.compile(r"\bgrain (?:corridor|deal|initiative)\b", _I),
    ],
}


def keyword_labels(article: Article, topic_ids: Sequence[str]) -> list[str]:
    """Topics (of those given that the baseline knows) whose keywords occur in the article."""
    text = f"{article.title}\n{article.text}"
    return [t for t in topic_ids if any(p.search(text) for p in KEYWORD_PATTERNS.get(t, ()))]
