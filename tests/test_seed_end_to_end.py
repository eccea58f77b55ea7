"""`make run` in a test: the real pipeline, the embedded NER model and the packaged topic model on seeds/."""

import fastavro
from conftest import EMBEDDED_NER, ROOT, read_avro, run_pipeline

TOPICS = ["air_defense", "drones", "eu_integration", "anti_corruption", "negotiations"]


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
    found = {(e["text"], e["label"]) for e in record["entities"]}
    assert {("Zelenskyy", "PER"), ("Emmanuel Macron", "PER")} <= found or {("Volodymyr Zelenskyy", "PER")} <= found
    persons = {e["text"] for e in record["entities"] if e["label"] == "PER"}
    assert any("Zelenskyy" in p for p in persons) and any("Macron" in p for p in persons)
    for place in ("France", "Ukraine", "Istanbul"):
        assert (place, "LOC") in found, place
    title_places = {e["text"] for e in record["entities"] if e["field"] == "title" and e["label"] == "LOC"}
    assert "Istanbul" in title_places

    summary = {(s["text"], s["label"]): s for s in record["entity_summary"]}
    zelenskyy = [s for (text, label), s in summary.items() if label == "PER" and "Zelenskyy" in text]
    assert len(zelenskyy) == 1 and zelenskyy[0]["mentions"] >= 2
    assert record["provenance"]["ner_model"] == "ner-minilm-conll03"

    with open(next(out.glob("articles-*.avro")), "rb") as fh:
        assert fastavro.reader(fh).writer_schema["name"] == "newsingest.EnrichedArticle"


def test_long_article_with_the_embedded_model():
    """An article far longer than 512 tokens, tagged through small windows: every repetition of the
    seed body gets its persons and places, spans never overlap or repeat, offsets are exact."""
    from transforms.article import Article
    from transforms.inference.settings import InferenceSettings
    from transforms.ner.handler import NerModelHandler

    body = (ROOT / "seeds").glob("*.txt").__next__().read_text().split("\n", 1)[1].strip()
    reps = 6
    text = "\n\n".join([body] * reps)
    handler = NerModelHandler(settings=InferenceSettings(ner_window=96, ner_stride=24))
    model = handler.load_model()
    assert len(model.tokenizer(text)["input_ids"]) > 512 * 3
    (entities,) = model.entities([Article(id="long", title="", text=text)])
    spans = sorted((e.start, e.end) for e in entities)
    assert len(spans) == len(set(spans))
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    for e in entities:
        assert text[e.start : e.end] == e.text
    period = len(body) + 2
    for i in range(reps):
        chunk = {(e.text, e.label) for e in entities if i * period <= e.start < (i + 1) * period}
        assert {("Emmanuel Macron", "PER"), ("France", "LOC"), ("Istanbul", "LOC"), ("Ukraine", "LOC")} <= chunk, i
        assert any(label == "PER" and "Zelensk" in t for t, label in chunk), i
