import pytest
import yaml

from transforms.topics.passages import alias_pattern
from transforms.topics.result import TopicResult
from transforms.topics.taxonomy import (
    Calibration,
    TaxonomyError,
    load_taxonomy,
    save_taxonomy,
)

FIVE = ["air_defense", "drones", "eu_integration", "anti_corruption", "negotiations"]


def minimal(**topic):
    t = {"id": "energy_infrastructure", "description": "Attacks on power plants and the electricity grid."}
    t.update(topic)
    return {"name": "test", "version": "0.1", "topics": [t]}


def write(tmp_path, data, name="tax.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(p)


def test_default_taxonomy_has_the_five_topics_and_is_calibrated():
    tax = load_taxonomy()
    assert tax.ids == FIVE
    assert tax.label == f"{tax.name}@{tax.version}"
    for t in tax.topics:
        assert t.description and t.prototypes and t.aliases and t.hypotheses
        assert 0 < t.threshold <= 1
    default = tax.default_calibration("embedding")
    assert default is not None and default.weights["evidence"] > 0  # the transformer carries topics


def test_description_only_topic_gets_defaults(tmp_path):
    tax = load_taxonomy(write(tmp_path, minimal()))
    t = tax.topics[0]
    assert t.name == "energy infrastructure"
    assert t.prototypes == [] and t.aliases == [] and t.hypotheses == []
    assert t.threshold == 0.5
    assert t.anchor_texts() == ["Attacks on power plants and the electricity grid."]
    assert tax.label == "test@0.1"


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"name": "x", "version": "1", "topics": [{"id": "a", "description": "d"}, {"id": "a", "description": "e"}]},
            "duplicate topic id",
        ),
        (minimal(description=""), "missing 'description'"),
        (minimal(description=None), "missing 'description'"),
        (minimal(threshold=1.5), "threshold must be in (0, 1]"),
        (minimal(threshold=0), "threshold must be in (0, 1]"),
        (minimal(threshold="high"), "threshold must be a number"),
        (minimal(id="Bad Id"), "topic id must match"),
        (minimal(colour="red"), "unknown field"),
        (minimal(aliases="*drone"), "'*' may only end a word"),
        (minimal(prototypes=[""]), "'prototypes' must be a list of non-empty strings"),
        (minimal(calibration={"embedding": {"weights": {"sim_max": "x"}}}), "must be numbers"),
        ({"name": "x", "version": "1", "topics": []}, "'topics' must be a non-empty list"),
        ({"version": "1", "topics": [{"id": "a", "description": "d"}]}, "missing 'name'"),
        ({"name": "x", "topics": [{"id": "a", "description": "d"}]}, "missing 'version'"),
    ],
)
def test_validation_errors_are_clear(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(TaxonomyError) as e:
        load_taxonomy(path)
    assert message in str(e.value)
    assert path in str(e.value)  # says which file


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(bad)


def test_json_is_accepted(tmp_path):
    import json

    p = tmp_path / "t.json"
    p.write_text(json.dumps(minimal()), encoding="utf-8")
    assert load_taxonomy(p).ids == ["energy_infrastructure"]


def test_save_round_trip(tmp_path):
    tax = load_taxonomy()
    tax.topics[0].threshold = 0.42
    tax.topics[0].calibration["nli"] = Calibration(weights={"entail_logit": 1.5}, bias=-0.25)
    out = tmp_path / "out.yaml"
    save_taxonomy(tax, out)
    again = load_taxonomy(out)
    assert again.ids == tax.ids
    assert again.topics[0].threshold == 0.42
    assert again.topics[0].calibration["nli"].weights == {"entail_logit": 1.5}
    for a, b in zip(tax.topics, again.topics):
        assert (a.description, a.prototypes, a.aliases, a.hypotheses) == (
            b.description,
            b.prototypes,
            b.aliases,
            b.hypotheses,
        )
    assert again.default_calibration("embedding") == tax.default_calibration("embedding")


def test_calibration_probability_is_a_probability():
    cal = Calibration(weights={"x": 100.0}, bias=0.0)
    assert cal.probability({"x": 10}) == pytest.approx(1.0)
    assert cal.probability({"x": -10}) == pytest.approx(0.0)
    assert cal.probability({}) == 0.5


def test_topic_result_applies_thresholds():
    r = TopicResult.from_scores({"a": 0.7, "b": 0.2, "c": 1.3}, {"a": 0.5, "b": 0.1, "c": 0.9})
    assert r.labels == ["a", "b", "c"] and r.scores["c"] == 1.0
    assert list(r.scores) == ["a", "b", "c"]


def test_alias_patterns():
    p = alias_pattern(["drone*", "NABU", "Patriot", "air defense", "clos* the sky", "anti-corruption"])
    text = "Drones; nabu NABU patriotic Patriot PATRIOT patriot air-defense closing the sky anticorruption"
    assert p.findall(text) == [
        "Drones",
        "NABU",
        "Patriot",
        "PATRIOT",
        "air-defense",
        "closing the sky",
        "anticorruption",
    ]
    assert alias_pattern([]) is None
