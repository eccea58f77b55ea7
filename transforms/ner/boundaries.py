"""Where a name starts and ends: corrections the text itself supports, after the model's spans.

The model reads sub-words in 128-token windows and was trained on 1996 Reuters; official news writes names it
cuts short or runs on ("Office of the Head" of State, "His Holiness Pope Francis", "European integration").
Each rule here follows the annotation guidelines the gold sets are written under (CoNLL-2003 conventions:
the maximal proper name, no titles in a person, a demonym before a common noun is a name on its own) and
moves only a span's edges, from the words around it; none adds a name the model did not find. ``adjust``
applies them in order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from transforms.ner.decoding import EntitySpan

_SPACED = re.compile(r"\S+")  # a word with its punctuation

# A name does not end in a connective or a separator ("European and", "Agreement between", "Violence,"), nor in a
# dash and a lowercase word (an editor's aside read on: "Mariupol - ed.")
_TRAILING_WORD = re.compile(
    r"(?:\s+(?:and|or|of|the|between|for|to|in|on|with|by|at|from|a|an)|\s*[,;:\-–—]|\s+[-–—]\s+[a-z]+\.?)$"
)


def trim_trailing(text: str, entities: Sequence[EntitySpan]) -> list[EntitySpan]:
    """Entities with trailing lowercase connectives and separators cut off; the first word always stays."""
    out = []
    for e in entities:
        end = e.end
        while (m := _TRAILING_WORD.search(text, e.start, end)) and m.start() > e.start:
            end = m.start()
        out.append(e if end == e.end else EntitySpan(e.start, end, e.label, e.score))
    return out


# The endings of English adjectives made from names: European, Euro-Atlantic, British, Chinese, Israeli, French.
_ADJECTIVE_OF_A_NAME = re.compile(r"(?:an|ic|ish|ese|i|ch)$")


def cut_adjective_phrases(text: str, entities: Sequence[EntitySpan]) -> list[EntitySpan]:
    """A MISC name made of an adjective from a name and the lowercase nouns after it is the adjective alone
    ("European integration" -> "European"; the guidelines' "Ukrainian army" -> "Ukrainian"). Names whose
    capitalised word is a place keep their nouns: "Minsk agreements", "Normandy format" are named formats."""
    out = []
    for e in entities:
        words = list(_SPACED.finditer(text, e.start, e.end)) if e.label == "MISC" else []
        head = len(words)
        while head > 1 and words[head - 1].group().isalpha() and words[head - 1].group().islower():
            head -= 1
        if head < len(words) and _ADJECTIVE_OF_A_NAME.search(words[head - 1].group()):
            e = EntitySpan(e.start, words[head - 1].end(), e.label, e.score)
        out.append(e)
    return out


# Titles and roles written before a name; the guidelines keep them out of a person ("President Zelenskyy" -> PER
# "Zelenskyy", "His Holiness Pope Francis" -> "Francis").
PERSON_TITLES = frozenset(
    """Acting Admiral Adviser Advisor Ambassador Archbishop Attorney Bishop Capt Captain Cardinal CEO Chair Chairman
    Chairperson Chairwoman Chancellor Chief Col Colonel Commander Commissioner Congressman Congresswoman Consul
    Deputy Director Dr Emir Envoy First Gen General Governor Head Her His Holiness Judge King Lady Lieutenant Lt
    Majesty Marshal Mayor Metropolitan Minister MP Mr Mrs Ms Ombudsman Patriarch Pope Premier President Prime
    Prince Princess Professor Prosecutor Queen Rabbi Representative Secretary Senator Sheikh Sir Speaker Spokesman
    Spokesperson Spokeswoman Sultan Vice""".split()
)
_NAME_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*\b")  # letters, maybe hyphenated: "Recep", "Kuningas-Saagpakk"
_NEXT_NAME_WORD = re.compile(" " + _NAME_WORD.pattern)


def _is_person_title(word: str) -> bool:
    return any(part in PERSON_TITLES for part in word.rstrip(".").split("-"))  # "Secretary-General"


def strip_titles(text: str, entities: Sequence[EntitySpan]) -> list[EntitySpan]:
    """A person's leading title words cut off, when a name is left after them."""
    out = []
    for e in entities:
        if e.label == "PER":
            words = list(_SPACED.finditer(text, e.start, e.end))
            k = 0
            while k < len(words) - 1 and _is_person_title(words[k].group()):
                k += 1
            if k and not _is_person_title(words[k].group()):  # "His Holiness" alone is no name to keep
                e = EntitySpan(words[k].start(), e.end, e.label, e.score)
        out.append(e)
    return out


_MAX_GIVEN_NAMES = 2  # "Recep", a given name and a patronymic; more is an office ("Regional Military Administration")
# Capitalised after a place without a full stop, these start a sentence (a subheading run on: "Ukraine After Zelensky")
_FUNCTION_WORDS = frozenset(
    "a after an and as at before but by during for from if in meanwhile now of on since so the then this to when while"
    " with yesterday today".split()
)
# and these go on naming the place itself ("the Portuguese Republic")
_PLACE_WORDS = frozenset("city emirates federation islands kingdom oblast province region republic state".split())


def _could_be_given_name(word: str) -> bool:
    """Capitalised (not in capitals: a headline), letters only, and none of the words that are titles, start
    a sentence or name a place."""
    return bool(
        _NAME_WORD.fullmatch(word)
        and word.istitle()
        and not _is_person_title(word)
        and word.lower() not in _FUNCTION_WORDS
        and word.lower() not in _PLACE_WORDS
    )


def join_given_names(text: str, entities: Sequence[EntitySpan]) -> list[EntitySpan]:
    """A person written right after the country of their office, as official releases write them ("President of
    Turkey Recep Tayyip Erdoğan", "Prime Minister of Ukraine Denys Shmyhal"), starts right after the place: the
    capitalised words between, not titles and not tagged, are given names the model did not know ("Recep").
    Not after an organisation, whose name often runs on in words the model left out ("... and EU" Affairs)."""
    ordered = sorted(entities, key=lambda e: e.start)
    out = list(ordered)
    for i in range(1, len(ordered)):
        before, person = ordered[i - 1], ordered[i]
        if person.label != "PER" or before.label != "LOC":
            continue
        between = text[before.end : person.start]
        words = between.split(" ")[1:-1]  # single spaces around: " Recep " -> ["Recep"]
        if (
            between.startswith(" ")
            and between.endswith(" ")
            and 0 < len(words) <= _MAX_GIVEN_NAMES
            and all(_could_be_given_name(w) for w in words)
        ):
            out[i] = EntitySpan(before.end + 1, person.end, person.label, person.score)
    return out


_OF = re.compile(r" of (the )?")
_INNER_SMALL_WORDS = frozenset("and for of on the".split())
_MAX_OF_WORDS = 8


def _capitalised_phrase_end(text: str, pos: int, limit: int) -> int:
    """End of the capitalised words (small words allowed between them, one space apart) from ``pos`` on,
    before ``limit``; ``pos`` when the word at ``pos`` is not capitalised."""
    end, at = pos, pos
    for n in range(_MAX_OF_WORDS):
        m = (_NAME_WORD if n == 0 else _NEXT_NAME_WORD).match(text, at, limit)
        if m is None:
            break
        word = m.group().lstrip(" ")
        if text.startswith(("'s", "’s"), m.end()):
            break  # a possessive starts another name: "Head of the" President's Office
        if word[0].isupper():
            end = m.end()
        elif word not in _INNER_SMALL_WORDS:
            break
        at = m.end()
    return end


def join_of_phrases(text: str, entities: Sequence[EntitySpan]) -> list[EntitySpan]:
    """An organisation's name runs on through "of (the)" and the capitalised words after it that no name
    claims ("Department" of State Protection, "Office of the Head" of State), and through an organisation
    named there ("Presidium" of the "Congress of Local and Regional Authorities"): the maximal name. A
    place, person or other name after "of" ends it ("Ministry of Defense" of "Ukraine" stays as read), and so
    does a possessive ("Head of the" President's Office); a name read in lowercase ("department") is no body's
    name to run on from."""
    ordered = sorted(entities, key=lambda e: e.start)
    out: list[EntitySpan] = []
    i = 0
    while i < len(ordered):
        e = ordered[i]
        i += 1
        of = _OF.match(text, e.end) if e.label == "ORG" and text[e.start].isupper() else None
        if of:
            after = ordered[i] if i < len(ordered) else None
            if after is not None and after.start == of.end():
                if after.label == "ORG" and of.group(1):  # a body of a body; "Espanyol of Barcelona" is two names
                    e, i = EntitySpan(e.start, after.end, "ORG", min(e.score, after.score)), i + 1
            else:
                limit = after.start if after is not None else len(text)
                end = _capitalised_phrase_end(text, of.end(), limit)
                if end > of.end():
                    e = EntitySpan(e.start, end, e.label, e.score)
        out.append(e)
    return out


_CLOSING_QUOTE = {'"': '"', "“": "”", "«": "»", "„": "“"}
_QUOTED_TITLE_SMALL_WORDS = frozenset("a an and as at by for from in into of on or the to with".split())
_QUOTED_TITLE_MAX_WORDS = 40
_QUOTED_TITLE_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def _is_quoted_title(quoted: str) -> bool:
    """Words all capitalised but the small ones, and not a quoted sentence (which ends in punctuation)."""
    words = _QUOTED_TITLE_WORD.findall(quoted)
    return (
        0 < len(words) <= _QUOTED_TITLE_MAX_WORDS
        and "\n" not in quoted
        and not quoted.rstrip().endswith((",", ".", "!", "?", ";", ":"))
        and words[0][0].isupper()
        and all(w[0].isupper() or w.lower() in _QUOTED_TITLE_SMALL_WORDS for w in words)
    )


def extend_quoted_titles(text: str, entities: Sequence[EntitySpan]) -> list[EntitySpan]:
    """A MISC name that opens a quoted title is the whole title, and the names inside it go: the official titles
    of laws, decrees and plans (Law "On Prevention of Threats to National Security Related to ... (Oligarchs)")
    run past what the model reads as one name, and it stops inside them. Only where the quotation's words are
    all capitalised but the small ones: quoted speech stays as it is."""
    out: list[EntitySpan] = []
    covered_until = -1
    for e in sorted(entities, key=lambda e: e.start):
        if e.start < covered_until:
            continue  # inside a title taken whole
        closing = _CLOSING_QUOTE.get(text[e.start - 1]) if e.label == "MISC" and e.start > 0 else None
        close = text.find(closing, e.end) if closing else -1
        quoted = text[e.start : close] if close > e.end else ""
        if quoted and _is_quoted_title(quoted):
            e, covered_until = EntitySpan(e.start, e.start + len(quoted.rstrip()), e.label, e.score), close
        out.append(e)
    return out


def adjust(text: str, entities: Sequence[EntitySpan]) -> list[EntitySpan]:
    """``entities`` of ``text`` with every rule of this module applied: cuts first, then the joins (which
    look at the names around a span, so at their final edges), quoted titles last (they drop the names
    inside them)."""
    spans = cut_adjective_phrases(text, trim_trailing(text, entities))
    spans = join_of_phrases(text, join_given_names(text, strip_titles(text, spans)))
    return extend_quoted_titles(text, spans)
