"""The benchmark's own logic (the benchmark itself is `make bench`, a script with a report, not a test)."""

import numpy as np
import pytest

from bench.bench import scaling_lines


def row(n, wall, load, ner, topics):
    return {"articles": n, "wall_s": wall, "load_s": load, "ner_s": ner, "topics_s": topics, "peak_rss_mb": 1000}


def test_scaling_separates_fixed_model_loading_from_per_article_cost():
    # 1k: 10 s load + 10 s work; 20k: 10 s load + 200 s work -> linear once the load is set aside
    (line,) = scaling_lines([row(1000, 20.0, 10.0, 5.0, 5.0), row(20000, 210.0, 10.0, 100.0, 100.0)])
    assert "wall 0.53×" in line and "less load 1.00×" in line and "model 1.00×" in line
    assert scaling_lines([row(1000, 20.0, 10.0, 5.0, 5.0)]) == []


def test_naive_per_passage_encoder_matches_the_pipeline_encoder():
    """The naive reference does the same maths one passage at a time, so only its speed differs."""
    from bench.bench import PerPassageEncoder
    from transforms.topics.embedding import SentenceEncoder

    encoder = SentenceEncoder.load()
    texts = [
        "Air defence shot down twelve drones overnight.",
        "Talks resume in Istanbul.",
        "The anti-corruption bureau charged a deputy minister with embezzlement in the drone programme.",
    ]
    np.testing.assert_allclose(PerPassageEncoder(encoder).encode(texts), encoder.encode(texts), atol=1e-5)
    assert PerPassageEncoder(encoder).encode([]).shape == (0, 384)


@pytest.mark.parametrize("n", [1, 5])
def test_synthetic_sets_have_the_requested_size_and_unique_ids(n):
    from bench.bench import synthetic

    source = [{"id": "a", "title": "T", "text": "One two three four five six seven eight nine ten eleven twelve."}]
    rows = synthetic(n, source)
    assert len(rows) == n and len({r["id"] for r in rows}) == n


def test_records_digest_compares_records_not_files_or_clocks(tmp_path):
    """Equal digests mean the same records: file split and order, and the wall-clock fields, do not count."""
    import fastavro

    from bench.engines import records_digest

    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "R",
            "fields": [{"name": "id", "type": "string"}, {"name": "ingested_at", "type": "long"}],
        }
    )
    a, b, c = (tmp_path / n for n in ("a", "b", "c"))
    for folder in (a, b, c):
        folder.mkdir()
    with open(a / "articles-0.avro", "wb") as fh:
        fastavro.writer(fh, schema, [{"id": "x", "ingested_at": 1}, {"id": "y", "ingested_at": 2}])
    for name, rows in (
        ("articles-0.avro", [{"id": "y", "ingested_at": 9}]),
        ("articles-1.avro", [{"id": "x", "ingested_at": 8}]),
    ):
        with open(b / name, "wb") as fh:
            fastavro.writer(fh, schema, rows)
    with open(c / "articles-0.avro", "wb") as fh:
        fastavro.writer(fh, schema, [{"id": "x", "ingested_at": 1}, {"id": "z", "ingested_at": 2}])
    assert records_digest(str(a)) == records_digest(str(b))
    assert records_digest(str(a)) != records_digest(str(c))


def test_kafka_latency_stats_count_missing_outputs():
    from bench.kafka import latency_stats

    class Seen:
        sent = {f"a{i}": 0.0 for i in range(21)}
        seen = {f"a{i}": float(i) for i in range(20)}  # a20 never came out

    stats = latency_stats(Seen, list(Seen.sent))
    assert stats["missing"] == 1 and stats["articles"] == 21
    assert stats["p50_s"] == 9.5 and stats["max_s"] == 19.0
