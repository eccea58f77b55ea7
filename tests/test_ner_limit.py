"""--max-ner-chars: one huge article cannot hold a batch or a stream; its record says where NER stopped."""

import json

from conftest import read_avro, run_pipeline

from transforms.text import word_boundary_end


def test_cut_falls_on_a_word_boundary():
    assert word_boundary_end("short text", 100) == len("short text")
    assert word_boundary_end("alpha beta gamma", 12) == len("alpha beta")
    assert word_boundary_end("x" * 50, 20) == 20  # no whitespace: cut at the limit
    assert word_boundary_end("alpha beta", 0) == len("alpha beta")  # 0: no limit


def test_huge_article_is_read_up_to_the_limit_and_says_so(tmp_path, tiny_ner, capsys):
    huge = "Drones struck Kharkiv again. " * 20_000  # 580,000 characters
    rows = [{"id": "huge", "title": "Long", "text": huge}, {"id": "small", "text": "Talks resumed in Geneva."}]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert (
        run_pipeline(
            [
                "--input",
                str(inp),
                "--output",
                str(tmp_path / "out"),
                "--ner-model",
                str(tiny_ner),
                "--max-ner-chars",
                "2000",
            ]
        )
        == 0
    )
    records = {r["id"]: r for r in read_avro(str(tmp_path / "out" / "articles-*.avro"))}
    cut = records["huge"]["ner_truncated_at"]
    assert cut == word_boundary_end(records["huge"]["text"], 2000) and 1000 < cut <= 2000
    assert all(e["end"] <= cut for e in records["huge"]["entities"] if e["field"] == "text")
    assert records["huge"]["text"] == huge.strip()  # the record keeps the whole text
    assert records["small"]["ner_truncated_at"] is None
    summary = json.loads(capsys.readouterr().out.split("summary: ")[-1].splitlines()[0])
    assert summary["ner_truncated"] == 1


def test_ner_merge_records_where_it_stopped_reading():
    from transforms.article import Article, Entity
    from transforms.ner.handler import NerModelHandler, NerSettings

    handler = NerModelHandler(ner=NerSettings(max_chars=12))
    entity = Entity("text", 0, 5, "alpha", "PER", 0.9)
    long, short = Article(id="l", title="", text="alpha beta gamma"), Article(id="s", title="", text="alpha")
    assert handler.merge(long, [entity]).ner_truncated_at == len("alpha beta")
    assert handler.merge(long, [entity]).entities == [entity]
    assert handler.merge(short, []).ner_truncated_at is None
