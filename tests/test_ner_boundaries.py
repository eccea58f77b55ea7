"""Where a name starts and ends, from the text around the model's spans (transforms/ner/boundaries.py)."""

import pytest

from transforms.ner.boundaries import (
    adjust,
    cut_adjective_phrases,
    extend_quoted_titles,
    join_given_names,
    join_of_phrases,
    strip_titles,
    trim_trailing,
)
from transforms.ner.decoding import EntitySpan


def _spans(text: str, *named: tuple[str, str]) -> list[EntitySpan]:
    return [EntitySpan(text.index(name), text.index(name) + len(name), label, 0.9) for name, label in named]


def _names(text: str, spans: list[EntitySpan]) -> list[tuple[str, str]]:
    return [(text[e.start : e.end], e.label) for e in spans]


def test_a_name_does_not_end_in_a_connective_or_a_separator():
    text = "European and Euro-Atlantic integration, the Free Trade Agreement between them, Gender-Based Violence, and"
    names = ("European and", "Free Trade Agreement between", "Gender-Based Violence,", "Euro-Atlantic")
    spans = _spans(text, *((name, "MISC") for name in names))
    got = trim_trailing(text, spans)
    assert [text[e.start : e.end] for e in got] == [
        "European",
        "Free Trade Agreement",
        "Gender-Based Violence",
        "Euro-Atlantic",
    ]
    assert got[-1] == spans[-1]  # untouched spans stay as they were
    assert trim_trailing("NATO and", [EntitySpan(0, 8, "ORG", 0.5)]) == [EntitySpan(0, 4, "ORG", 0.5)]
    assert trim_trailing("and then", [EntitySpan(0, 3, "ORG", 0.5)]) == [
        EntitySpan(0, 3, "ORG", 0.5)
    ]  # first word stays
    # capitalised words and inner connectives are the name's own
    assert trim_trailing("Bank of America", [EntitySpan(0, 15, "ORG", 0.5)]) == [EntitySpan(0, 15, "ORG", 0.5)]
    # an editor's aside after a dash is not the name's
    assert trim_trailing("in Mariupol - ed.", [EntitySpan(3, 17, "LOC", 0.5)]) == [EntitySpan(3, 11, "LOC", 0.5)]
    assert trim_trailing("Bosnia - Herzegovina", [EntitySpan(0, 20, "LOC", 0.5)]) == [EntitySpan(0, 20, "LOC", 0.5)]


def test_a_misc_name_that_opens_a_quoted_title_is_the_whole_title():
    law = "On Prevention of Threats to National Security Related to Persons Who Have Weight in Public Life (Oligarchs)"
    text = f'Zelenskyy signed Law № 1780-IX adopted by the Verkhovna Rada "{law}". NATO welcomed it.'
    got = extend_quoted_titles(
        text,
        _spans(
            text,
            ("Zelenskyy", "PER"),
            ("Verkhovna Rada", "ORG"),
            ("On Prevention of Threats to National Security", "MISC"),
            ("Oligarchs", "ORG"),
            ("NATO", "ORG"),
        ),
    )
    assert _names(text, got) == [
        ("Zelenskyy", "PER"),
        ("Verkhovna Rada", "ORG"),
        (law, "MISC"),
        ("NATO", "ORG"),
    ]
    # other quotation marks too
    text = "the «Plan of Urgent Measures to Prevent Violence, and Protect Victims» was approved"
    got = extend_quoted_titles(text, _spans(text, ("Plan of Urgent Measures to Prevent Violence", "MISC")))
    assert _names(text, got) == [("Plan of Urgent Measures to Prevent Violence, and Protect Victims", "MISC")]


@pytest.mark.parametrize(
    "text, name, label",
    [
        ('"Ukraine will get the Patriot systems," Stoltenberg said.', "Ukraine", "LOC"),  # quoted speech, not MISC
        ('"Patriot systems will arrive soon," he said.', "Patriot", "MISC"),  # lowercase words: a sentence
        ('"Patriot Systems Arrive," the headline read.', "Patriot", "MISC"),  # ends in punctuation: speech
        ('the "Patriot" and "IRIS-T" systems', "Patriot", "MISC"),  # the name is the whole quotation already
        ('a Patriot battery "for Kyiv"', "Patriot", "MISC"),  # not opening the quotation
    ],
)
def test_quoted_speech_and_names_that_do_not_open_a_title_stay(text, name, label):
    spans = _spans(text, (name, label))
    assert extend_quoted_titles(text, spans) == spans


def test_an_adjective_from_a_name_before_common_nouns_is_a_name_on_its_own():
    text = "towards European and Euro-Atlantic integration, the Ukrainian army and British security guarantees"
    spans = _spans(
        text,
        ("European", "MISC"),
        ("Euro-Atlantic integration", "MISC"),
        ("Ukrainian army", "MISC"),
        ("British security guarantees", "MISC"),
    )
    assert _names(text, cut_adjective_phrases(text, spans)) == [
        ("European", "MISC"),
        ("Euro-Atlantic", "MISC"),
        ("Ukrainian", "MISC"),
        ("British", "MISC"),
    ]


@pytest.mark.parametrize(
    "text, name, label",
    [
        ("talks in the Normandy format", "Normandy format", "MISC"),  # a format named after a place
        ("the Minsk agreements", "Minsk agreements", "MISC"),
        ("the Free Trade Agreement", "Free Trade Agreement", "MISC"),  # no lowercase nouns
        ("the Ukrainian army", "Ukrainian army", "ORG"),  # other types are left as read
        ("a European", "European", "MISC"),
    ],
)
def test_named_formats_and_other_names_keep_their_words(text, name, label):
    spans = _spans(text, (name, label))
    assert cut_adjective_phrases(text, spans) == spans


def test_a_person_is_the_name_without_the_titles_before_it():
    text = "His Holiness Pope Francis met Secretary-General Guterres and Mr. Smith; Major spoke"
    spans = _spans(
        text,
        ("His Holiness Pope Francis", "PER"),
        ("Secretary-General Guterres", "PER"),
        ("Mr. Smith", "PER"),
        ("Major", "PER"),  # a title word alone is a name (John Major): it stays
    )
    assert _names(text, strip_titles(text, spans)) == [
        ("Francis", "PER"),
        ("Guterres", "PER"),
        ("Smith", "PER"),
        ("Major", "PER"),
    ]
    for text, name, label in [("the Pope met NATO", "Pope", "ORG"), ("met His Holiness", "His Holiness", "PER")]:
        untouched = _spans(text, (name, label))  # not a person; titles only, no name to keep
        assert strip_titles(text, untouched) == untouched


def test_given_names_between_a_country_and_a_person_are_the_persons():
    text = "President of the Republic of Turkey Recep Tayyip Erdoğan and Prime Minister of Ukraine Denys Shmyhal met"
    spans = _spans(
        text,
        ("Republic of Turkey", "LOC"),
        ("Tayyip Erdoğan", "PER"),
        ("Ukraine", "LOC"),
        ("Shmyhal", "PER"),
    )
    assert _names(text, join_given_names(text, spans)) == [
        ("Republic of Turkey", "LOC"),
        ("Recep Tayyip Erdoğan", "PER"),
        ("Ukraine", "LOC"),
        ("Denys Shmyhal", "PER"),
    ]


@pytest.mark.parametrize(
    "text, before, person",
    [
        ("US President Joseph Biden", ("US", "LOC"), ("Joseph Biden", "PER")),  # a title between
        ("UN Secretary-General António Guterres", ("UN", "LOC"), ("António Guterres", "PER")),
        ("Kyiv Mayor Vitali Klitschko", ("Kyiv", "LOC"), ("Vitali Klitschko", "PER")),
        ("EU Affairs Igor Senčar", ("EU", "ORG"), ("Igor Senčar", "PER")),  # after an organisation
        ("ICELAND BEAT FAROES", ("ICELAND", "LOC"), ("FAROES", "PER")),  # capitals: a headline, not a name
        ("Ukraine, Denys Shmyhal", ("Ukraine", "LOC"), ("Shmyhal", "PER")),  # not right after the place
        ("Ukraine Health Minister Viktor Lyashko", ("Ukraine", "LOC"), ("Viktor Lyashko", "PER")),
        ("Portnov in Ukraine After Zelensky was elected", ("Ukraine", "LOC"), ("Zelensky", "PER")),  # a sentence
        ("of the Portuguese Republic Fernando de Melo", ("Portuguese", "LOC"), ("Fernando de Melo", "PER")),
        (
            "Kherson Regional Military Administration Oleksandr Prokudin",
            ("Kherson", "LOC"),
            ("Oleksandr Prokudin", "PER"),
        ),
    ],
)
def test_titles_organisations_and_punctuation_keep_a_person_as_read(text, before, person):
    spans = _spans(text, before, person)
    assert join_given_names(text, spans) == spans


def test_an_organisation_runs_on_through_of_and_the_words_no_name_claims():
    text = (
        "the anniversary of the Department of State Protection. At the Office of the Head of State. "
        "The Presidium of the Congress of Local and Regional Authorities met the Ministry of Defense of Ukraine, "
        "the Cabinet of the Prime Minister of Greece and Espanyol of Barcelona."
    )
    spans = _spans(
        text,
        ("Department", "ORG"),
        ("Office of the Head", "ORG"),
        ("Presidium", "ORG"),
        ("Congress of Local and Regional Authorities", "ORG"),
        ("Ministry of Defense", "ORG"),
        ("Ukraine", "LOC"),
        ("Cabinet", "ORG"),
        ("Greece", "LOC"),
        ("Espanyol", "ORG"),
        ("Barcelona", "ORG"),
    )
    assert _names(text, join_of_phrases(text, spans)) == [
        ("Department of State Protection", "ORG"),
        ("Office of the Head of State", "ORG"),
        ("Presidium of the Congress of Local and Regional Authorities", "ORG"),  # a body of a body
        ("Ministry of Defense", "ORG"),  # a place after "of" is a name of its own
        ("Ukraine", "LOC"),
        ("Cabinet of the Prime Minister", "ORG"),  # up to the next name
        ("Greece", "LOC"),
        ("Espanyol", "ORG"),  # "of" without "the" between two organisations: two names
        ("Barcelona", "ORG"),
    ]


@pytest.mark.parametrize(
    "text, name",
    [
        ("support of NATO of all kinds", "NATO"),  # lowercase words after "of"
        ("the Office of the President. Of course", "Office of the President"),  # a sentence ends the name
        ("the Council of  Europe", "Council"),  # not one space apart
        ("a member of NATO since 2004", "NATO"),
        ("between Head of the President's Office Andriy Yermak", "Head"),  # a possessive starts another name
        ("the main department of the State Emergency Service", "department"),  # not a name in lowercase
    ],
)
def test_an_organisation_does_not_run_on_into_lowercase_words_or_past_a_sentence(text, name):
    spans = _spans(text, (name, "ORG"))
    assert join_of_phrases(text, spans) == spans


def test_adjust_applies_the_rules_together():
    text = "President of Ukraine Denys Shmyhal spoke at the Office of the Head of State about European integration."
    spans = _spans(
        text,
        ("Ukraine", "LOC"),
        ("Shmyhal", "PER"),
        ("Office of the Head", "ORG"),
        ("European integration", "MISC"),
    )
    assert _names(text, adjust(text, spans)) == [
        ("Ukraine", "LOC"),
        ("Denys Shmyhal", "PER"),
        ("Office of the Head of State", "ORG"),
        ("European", "MISC"),
    ]
    assert adjust(text, []) == []
