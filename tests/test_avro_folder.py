"""pipeline.commands.avro_folder: the one reader of a pipeline output folder (report, eval-ner,
eval-topics)."""

from __future__ import annotations

import avro_fixtures as af
import pytest

from pipeline.commands.avro_folder import AvroFolderError, avro_files, read_files, read_folder


@pytest.fixture()
def records():
    return af.make_records(6)


def test_reads_articles_in_nested_folders_and_not_dead_letters(tmp_path, records):
    """Streaming layout: shards in per-window subfolders, a dead-letter file beside them."""
    af.write_output_dir(tmp_path, records, dead=2, shards=3, windows=True)
    files = avro_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        f"window-{s:02d}/articles-{s:05d}-of-00003.avro" for s in range(3)
    ]
    assert sorted(r["id"] for r in read_folder(tmp_path)) == sorted(r["id"] for r in records)
    dead = list(read_folder(tmp_path, "deadletter"))
    assert len(dead) == 2 and all("stage" in r for r in dead)


def test_skips_beam_temp_and_hidden_folders(tmp_path, records):
    af.write_output_dir(tmp_path, records[:2], dead=0, shards=1)
    af.write_avro(
        tmp_path / "beam-temp-articles-1234" / "articles-00000-of-00001.avro",
        records[2:4],
        af.schemas.parsed("enriched_article"),
    )
    af.write_avro(
        tmp_path / ".snapshot" / "articles-00000-of-00001.avro", records[4:], af.schemas.parsed("enriched_article")
    )
    assert [p.name for p in avro_files(tmp_path)] == ["articles-00000-of-00001.avro"]
    assert [r["id"] for r in read_folder(tmp_path)] == [r["id"] for r in records[:2]]


def test_empty_or_missing_folder_is_a_clear_error(tmp_path, records):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AvroFolderError, match=r"^no articles-\*\.avro files under .*empty$"):
        read_folder(tmp_path / "empty")
    with pytest.raises(AvroFolderError, match=r"^folder not found: .*missing$"):
        read_folder(tmp_path / "missing")
    # only dead letters: still no articles
    af.write_output_dir(tmp_path / "dead-only", [], dead=1, shards=0)
    with pytest.raises(AvroFolderError, match="no articles-"):
        read_folder(tmp_path / "dead-only")
    assert avro_files(tmp_path / "dead-only", required=False) == []


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "articles-00000-of-00001.avro"
    bad.write_bytes(b"not avro at all")
    with pytest.raises(AvroFolderError, match=r"^cannot read .*articles-00000-of-00001\.avro: "):
        list(read_files([bad]))


def test_eval_ner_reads_through_it(tmp_path, records):
    from pipeline.commands.eval.ner import spans_from_avro

    af.write_output_dir(tmp_path, records, dead=1, shards=2, windows=True)
    spans = spans_from_avro(tmp_path)
    assert set(spans) == {r["id"] for r in records}
    for r in records:
        assert spans[r["id"]] == {(e["field"], e["start"], e["end"], e["label"]) for e in r["entities"]}
