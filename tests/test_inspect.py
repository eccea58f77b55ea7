"""`news-ingest inspect`: JSON lines round-trip, --schema, --limit, and one-line errors with status 2."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import avro_fixtures as af
import fastavro
import pytest

import schemas
from pipeline.commands import inspect_avro

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inspect")
    recs = af.make_records(30, hostile=True, undated=2)
    art = af.write_avro(d / "articles-00000-of-00001.avro", recs, schemas.parsed("enriched_article"))
    dead = af.write_avro(d / "deadletter-00000-of-00001.avro", af.dead_letters(4), schemas.parsed("dead_letter"))
    return {"articles": art, "dead": dead, "records": recs, "dir": d}


def run(capsys, *argv):
    rc = inspect_avro.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def parse_ts(s):
    assert s.endswith("Z")
    return datetime.fromisoformat(s[:-1] + "+00:00")


def test_json_lines_round_trip(files, capsys):
    rc, out, err = run(capsys, files["articles"], "--limit", 5)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 5
    with open(files["articles"], "rb") as f:
        expected = [r for _, r in zip(range(5), fastavro.reader(f))]
    for line, rec in zip(lines, expected):
        got = json.loads(line)
        assert set(got) == set(rec)
        for k in (
            "id",
            "title",
            "text",
            "url",
            "source",
            "content_hash",
            "source_line",
            "topic_labels",
            "extra",
            "provenance",
        ):
            assert got[k] == rec[k]
        assert got["entities"] == [dict(e, score=pytest.approx(e["score"])) for e in rec["entities"]]
        assert parse_ts(got["ingested_at"]) == rec["ingested_at"]
        if rec["published_at"] is None:
            assert got["published_at"] is None
        else:
            assert parse_ts(got["published_at"]) == rec["published_at"]


def test_all_records_and_limits(files, capsys):
    n = len(files["records"])
    rc, out, _ = run(capsys, files["articles"])
    assert rc == 0 and len(out.splitlines()) == n
    assert [json.loads(x)["id"] for x in out.splitlines()] == [r["id"] for r in files["records"]]
    rc, out, _ = run(capsys, files["articles"], "--limit", 0)
    assert rc == 0 and out == ""
    rc, out, _ = run(capsys, files["articles"], "--limit", 10 * n)
    assert rc == 0 and len(out.splitlines()) == n


def test_hostile_strings_survive(files, capsys):
    rc, out, _ = run(capsys, files["articles"])
    hostile = [json.loads(x) for x in out.splitlines() if json.loads(x)["id"] == "hostile-1"]
    assert hostile and hostile[0]["title"] == af.HOSTILE_TITLE and hostile[0]["url"] == af.HOSTILE_URL


def test_bytes_base64_and_latin1(files, capsys):
    raw = af.dead_letters(4)[0]["raw"]
    rc, out, _ = run(capsys, files["dead"], "--limit", 1)
    rec = json.loads(out)
    assert rc == 0 and base64.b64decode(rec["raw"]) == raw
    assert rec["failed_at"] == "2025-06-10T12:00:00.000Z"
    rc, out, _ = run(capsys, files["dead"], "--limit", 1, "--bytes", "latin1")
    assert rc == 0 and json.loads(out)["raw"].encode("latin-1") == raw


def test_schema(files, capsys):
    rc, out, _ = run(capsys, files["articles"], "--schema")
    assert rc == 0
    schema = json.loads(out)
    assert schema["type"] == "record" and schema["name"].endswith("EnrichedArticle")
    names = [f["name"] for f in schema["fields"]]
    assert names == [f["name"] for f in schemas.load_json("enriched_article")["fields"]]
    # the printed schema can read the file back
    with open(files["articles"], "rb") as f:
        assert sum(1 for _ in fastavro.reader(f, reader_schema=fastavro.parse_schema(schema))) == len(files["records"])
    rc, out, _ = run(capsys, files["dead"], "--schema")
    assert rc == 0 and json.loads(out)["name"].endswith("DeadLetter")


def test_errors_are_one_line_with_status_2(files, tmp_path, capsys):
    not_avro = tmp_path / "x.avro"
    not_avro.write_text("hello, not avro\n")
    empty = tmp_path / "empty.avro"
    empty.write_bytes(b"")
    bad_header = tmp_path / "bad_header.avro"
    bad_header.write_bytes(b"Obj\x01\xff\xff\xff")
    data = files["articles"].read_bytes()
    truncated = tmp_path / "truncated.avro"
    truncated.write_bytes(data[: len(data) - 200])
    for path in (tmp_path / "missing.avro", tmp_path, not_avro, empty, bad_header):
        rc, out, err = run(capsys, path)
        assert rc == 2, path
        assert out == ""
        assert len(err.strip().splitlines()) == 1 and err.startswith("news-ingest inspect: error: "), err
        assert "Traceback" not in err
    rc, out, err = run(capsys, truncated)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "invalid data" in err


def test_bad_arguments(files, capsys):
    with pytest.raises(SystemExit) as e:
        inspect_avro.main([str(files["articles"]), "--limit", "-1"])
    assert e.value.code == 2
    capsys.readouterr()


def test_help_states_encodings(capsys):
    with pytest.raises(SystemExit):
        inspect_avro.main(["--help"])
    out = capsys.readouterr().out
    assert "ISO 8601" in out and "base64" in out and "UTC" in out


def test_as_a_process_with_a_closed_pipe(files):
    """python -m pipeline.commands.inspect_avro ... | head -1: no traceback when the reader goes away."""
    p = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.inspect_avro", str(files["articles"])],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=30)
    assert json.loads(first)["id"] == files["records"][0]["id"]
    assert "Traceback" not in err and p.returncode == 0, err
