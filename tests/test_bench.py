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
    from transforms.topic_embedding import SentenceEncoder

    encoder = SentenceEncoder.load()
    texts = ["Air defence shot down twelve drones overnight.", "Talks resume in Istanbul.",
             "The anti-corruption bureau charged a deputy minister with embezzlement in the drone programme."]
    np.testing.assert_allclose(PerPassageEncoder(encoder).encode(texts), encoder.encode(texts), atol=1e-5)
    assert PerPassageEncoder(encoder).encode([]).shape == (0, 384)


@pytest.mark.parametrize("n", [1, 5])
def test_synthetic_sets_have_the_requested_size_and_unique_ids(n):
    from bench.bench import synthetic

    source = [{"id": "a", "title": "T", "text": "One two three four five six seven eight nine ten eleven twelve."}]
    rows = synthetic(n, source)
    assert len(rows) == n and len({r["id"] for r in rows}) == n
