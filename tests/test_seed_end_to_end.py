"""`make run` in a test: the real pipeline, the embedded NER model and the packaged topic model on seeds/."""

import fastavro
from conftest import EMBEDDED_NER, ROOT, read_avro, run_pipeline

from transforms.article import Article
from transforms.ner.handler import NerModelHandler, NerSettings

TOPICS = ["air_defense", "drones", "eu_integration", "anti_corruption", "negotiations"]

SEED_ENTITIES = [
    ("title", 23, 29, "French", "MISC"),
    ("title", 83, 91, "Russians", "MISC"),
    ("title", 95, 103, "Istanbul", "LOC"),
    ("text", 0, 6, "France", "LOC"),
    ("text", 47, 56, "Ukrainian", "MISC"),
    ("text", 114, 133, "Volodymyr Zelenskyy", "PER"),
    ("text", 174, 180, "French", "MISC"),
    ("text", 191, 206, "Emmanuel Macron", "PER"),
    ("text", 227, 234, "Ukraine", "LOC"),
    ("text", 318, 325, "Russian", "MISC"),
    ("text", 400, 406, "SAMP/T", "MISC"),
    ("text", 411, 418, "Crotale", "MISC"),
    ("text", 429, 437, "Zelensky", "PER"),
    ("text", 494, 503, "Ukrainian", "MISC"),
    ("text", 525, 531, "France", "LOC"),
    ("text", 647, 656, "Ukrainian", "MISC"),
    ("text", 667, 678, "Mirage 2000", "MISC"),
    ("text", 710, 716, "France", "LOC"),
    ("text", 832, 841, "Zelenskyy", "PER"),
    ("text", 849, 855, "Macron", "PER"),
    ("text", 901, 908, "Russian", "MISC"),
    ("text", 917, 925, "Istanbul", "LOC"),
    ("text", 988, 995, "Ukraine", "LOC"),
    ("text", 1127, 1133, "Europe", "LOC"),
    ("text", 1175, 1183, "European", "MISC"),
    ("text", 1355, 1362, "Ukraine", "LOC"),
    ("text", 1367, 1374, "Moldova", "LOC"),
    ("text", 1456, 1463, "Ukraine", "LOC"),
    ("text", 1637, 1644, "Russian", "MISC"),
    ("text", 1665, 1674, "Zelenskyy", "PER"),
    ("text", 1807, 1816, "Zelenskyy", "PER"),
    ("text", 1827, 1834, "Ukraine", "LOC"),
]
# (text, label, mentions) in the order of first mention, title first
SEED_SUMMARY = [
    ("French", "MISC", 2),
    ("Russians", "MISC", 1),
    ("Istanbul", "LOC", 2),
    ("France", "LOC", 3),
    ("Ukrainian", "MISC", 3),
    ("Volodymyr Zelenskyy", "PER", 4),
    ("Emmanuel Macron", "PER", 2),
    ("Ukraine", "LOC", 5),
    ("Russian", "MISC", 3),
    ("SAMP/T", "MISC", 1),
    ("Crotale", "MISC", 1),
    ("Zelensky", "PER", 1),
    ("Mirage 2000", "MISC", 1),
    ("Europe", "LOC", 1),
    ("European", "MISC", 1),
    ("Moldova", "LOC", 1),
]


def test_seed_article(tmp_path):
    assert (EMBEDDED_NER / "model.safetensors").exists()
    out = tmp_path / "out"
    assert run_pipeline(["--input", str(ROOT / "seeds" / "*"), "--output", str(out)]) == 0
    (record,) = read_avro(str(out / "articles-*.avro"))
    assert read_avro(str(out / "deadletter-*.avro")) == []
    assert record["title"].startswith("President informed his French counterpart")
    assert record["published_at"].date().isoformat() == "2025-07-27"
    assert record["language"] == "en"
    assert [t["label"] for t in record["topics"]] == TOPICS
    assert record["topic_labels"] == TOPICS
    assert all(0.0 <= t["score"] <= 1.0 for t in record["topics"])

    for e in record["entities"]:
        assert record[e["field"]][e["start"] : e["end"]] == e["text"]
    # The embedded model's mentions of the seed, as the default backend (onnxruntime-int8) writes them;
    # torch and onnxruntime fp32 find the same spans (and label the bare "Macron" of the line "Zelenskyy briefs
    # Macron on ..." ORG, a close call). The model trained on CoNLL-2003 alone wrote "Mirage" LOC (a
    # fighter jet, cut); the one trained with weapon systems among its names writes "Mirage 2000" MISC. Any change
    # here is a change of the records.
    assert [(e["field"], e["start"], e["end"], e["text"], e["label"]) for e in record["entities"]] == SEED_ENTITIES
    # the summary counts a surname with its full name ("Zelenskyy" x3 with "Volodymyr Zelenskyy", "Macron"
    # with "Emmanuel Macron"); another spelling ("Zelensky") or form ("Russians") is a name of its own
    summary = [(s["text"], s["label"], s["mentions"]) for s in record["entity_summary"]]
    assert summary == SEED_SUMMARY
    assert record["provenance"]["ner_model"] == "ner-minilm-conll03"

    with open(next(out.glob("articles-*.avro")), "rb") as fh:
        assert fastavro.reader(fh).writer_schema["name"] == "newsingest.EnrichedArticle"


# The windows start elsewhere in every repetition of a long text, and only the labels of the weapon systems and
# of the close call in test_seed_article follow that context (Crotale MISC/LOC/ORG, SAMP/T MISC/ORG, "Mirage" LOC
# or "Mirage 2000" MISC, the bare "Macron" after "Zelenskyy briefs" PER or ORG); every other person stays.
FOLLOWS_CONTEXT = {"Crotale", "SAMP/T", "Mirage", "Mirage 2000", "Macron"}


def persons(mentions: set[tuple]) -> set[tuple]:
    return {m for m in mentions if m[3] == "PER" and m[2] not in FOLLOWS_CONTEXT}


def test_long_article_with_the_embedded_model():
    """An article far longer than 512 tokens, tagged through small windows: every repetition of the
    seed body gets the persons it gets alone, at the same offsets; spans never overlap or repeat."""
    body = next((ROOT / "seeds").glob("*.txt")).read_text().split("\n", 1)[1].strip()
    reps = 6
    text = "\n\n".join([body] * reps)
    handler = NerModelHandler(ner=NerSettings(window_tokens=96, stride_tokens=24))
    model = handler.load_model()
    assert len(model.tokenizer(text)["input_ids"]) > 512 * 3
    (entities,) = model.entities([Article(id="long", title="", text=text)])
    (alone,) = model.entities([Article(id="alone", title="", text=body)])
    spans = sorted((e.start, e.end) for e in entities)
    assert len(spans) == len(set(spans))
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    for e in entities:
        assert text[e.start : e.end] == e.text
    period = len(body) + 2
    expected = {(e.start, e.end, e.text, e.label) for e in alone}
    for i in range(reps):
        chunk = {
            (e.start - i * period, e.end - i * period, e.text, e.label)
            for e in entities
            if i * period <= e.start < (i + 1) * period
        }
        assert persons(chunk) == persons(expected), i
        assert {m[2] for m in chunk ^ expected} <= FOLLOWS_CONTEXT, i
