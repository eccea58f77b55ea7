"""The real pipeline (FnApiRunner, real Avro files) on good and malformed input."""

import json
from pathlib import Path

import avro.datafile
import avro.io
import fastavro
from conftest import read_avro, run_pipeline
from fastavro.validation import validate_many

import schemas


def write_inputs(tmp: Path) -> Path:
    d = tmp / "in"
    d.mkdir()
    good = [
        {
            "id": "a1",
            "title": "Patriot systems for Kyiv",
            "text": "Germany delivered another Patriot air defense system.",
            "date": "2025-06-01",
            "publisher": "Test",
        },
        {"title": "No id here", "text": "NABU detectives charged an official with bribery.", "url": "https://ex/1"},
        {"text": "Ukraine and Russia held talks in Istanbul on a prisoner exchange.", "extra_field": {"k": 1}},
    ]
    lines = [json.dumps(g).encode() for g in good] + [
        b"{broken json",
        b'{"text": ""}',
        b"[1, 2, 3]",
        b'{"title": "missing text"}',
        b'{"text": "caf\xe9 invalid utf-8"}',
        b'{"text": {"nested": true}}',
    ]
    (d / "batch.jsonl").write_bytes(b"\n".join(lines) + b"\n\n")
    (d / "plain.txt").write_text("A plain title\nDrones attacked the port overnight.")
    (d / "empty.txt").write_text("   \n")
    return d


def test_every_input_is_one_record_or_one_dead_letter(tmp_path, tiny_ner):
    d = write_inputs(tmp_path)
    out = tmp_path / "out"
    assert (
        run_pipeline(
            [
                "--input",
                str(d / "*.jsonl"),
                "--input",
                str(d / "*.txt"),
                "--output",
                str(out),
                "--ner-model",
                str(tiny_ner),
            ]
        )
        == 0
    )
    records = read_avro(str(out / "articles-*.avro"))
    dead = read_avro(str(out / "deadletter-*.avro"))
    assert len(records) == 4 and len(dead) == 7 and len(records) + len(dead) == 11
    assert {r["id"] for r in records} >= {"a1"}
    stages = sorted((d["stage"], d["error_type"]) for d in dead)
    assert all(s == "parse" for s, _ in stages)
    assert {e for _, e in stages} >= {"JSONDecodeError", "InvalidArticle", "UnicodeDecodeError"}
    by_line = {d["source_line"]: d for d in dead if d["source_line"]}
    assert by_line[4]["raw"] == b"{broken json" and by_line[8]["raw"] == b'{"text": "caf\xe9 invalid utf-8"}'
    empty = [d for d in dead if d["source_file"].endswith("empty.txt")]
    assert len(empty) == 1 and "empty" in empty[0]["error_message"]
    # schema-valid, and every topic scored for every record
    assert validate_many(records, schemas.parsed("enriched_article"))
    assert validate_many(dead, schemas.parsed("dead_letter"))
    for r in records:
        assert [t["label"] for t in r["topics"]] == [
            "air_defense",
            "drones",
            "eu_integration",
            "anti_corruption",
            "negotiations",
        ]
        for e in r["entities"]:
            assert r[e["field"]][e["start"] : e["end"]] == e["text"]
    a1 = next(r for r in records if r["id"] == "a1")
    assert a1["source"] == "Test" and a1["published_at"].isoformat().startswith("2025-06-01")
    plain = next(r for r in records if r["source_file"].endswith("plain.txt"))
    assert plain["title"] == "A plain title" and plain["source_line"] is None


def test_output_is_readable_by_the_official_avro_package(tmp_path, tiny_ner):
    d = write_inputs(tmp_path)
    out = tmp_path / "out"
    assert run_pipeline(["--input", str(d / "batch.jsonl"), "--output", str(out), "--ner-model", str(tiny_ner)]) == 0
    for kind, expected in (("articles", 3), ("deadletter", 6)):
        files = sorted(out.glob(f"{kind}-*.avro"))
        assert files
        n = 0
        for f in files:
            with open(f, "rb") as fh:
                assert fastavro.reader(fh).codec == "deflate"
            with avro.datafile.DataFileReader(open(f, "rb"), avro.io.DatumReader()) as reader:
                n += sum(1 for _ in reader)
        assert n == expected


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    d = write_inputs(tmp_path)
    rc = run_pipeline(
        [
            "--input",
            str(d / "plain.txt"),
            "--output",
            str(tmp_path / "o"),
            "--ner-model",
            "someone/not-downloaded-model",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "not available" in err and "--allow-download" in err


def test_no_matching_input_is_a_clear_error(tmp_path, capsys):
    assert run_pipeline(["--input", str(tmp_path / "nothing*.jsonl"), "--output", str(tmp_path / "o")]) == 2
    assert "matches no files" in capsys.readouterr().err
