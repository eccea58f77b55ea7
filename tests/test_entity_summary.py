from transforms.article import Entity
from transforms.ner.entity_summary import entity_key, summarise


def ent(text, label, start, field="text"):
    return Entity(field, start, start + len(text), text, label, 0.9)


def test_case_possessive_and_surname_merge():
    rows = summarise(
        [
            ent("Emmanuel Macron", "PER", 50),
            ent("Zelenskyy", "PER", 10, "title"),
            ent("Zelenskyy's", "PER", 5),
            ent("Macron", "PER", 120),
            ent("macron’s", "PER", 140),
            ent("ZELENSKYY", "PER", 200),
            ent("France", "LOC", 30),
            ent("France", "ORG", 300),
        ]
    )
    assert rows == [
        {"text": "Zelenskyy", "label": "PER", "mentions": 3, "first_field": "title", "first_start": 10},
        {"text": "France", "label": "LOC", "mentions": 1, "first_field": "text", "first_start": 30},
        {"text": "Emmanuel Macron", "label": "PER", "mentions": 3, "first_field": "text", "first_start": 50},
        {"text": "France", "label": "ORG", "mentions": 1, "first_field": "text", "first_start": 300},
    ]


def test_ambiguous_surname_is_not_merged():
    rows = summarise([ent("Andriy Yermak", "PER", 0), ent("Oleh Yermak", "PER", 20), ent("Yermak", "PER", 40)])
    assert [(r["text"], r["mentions"]) for r in rows] == [("Andriy Yermak", 1), ("Oleh Yermak", 1), ("Yermak", 1)]


def test_surname_before_full_name_and_other_types_stay_apart():
    rows = summarise([ent("Macron", "PER", 0), ent("Emmanuel Macron", "PER", 20), ent("Macron", "ORG", 40)])
    assert [(r["text"], r["label"], r["mentions"]) for r in rows] == [
        ("Macron", "PER", 1),
        ("Emmanuel Macron", "PER", 1),
        ("Macron", "ORG", 1),
    ]


def test_key():
    assert entity_key(" Zelenskyy’s ") == entity_key("ZELENSKYY") == "zelenskyy"
