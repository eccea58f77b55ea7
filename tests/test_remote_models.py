"""Models on any Beam filesystem: copied once into the local model cache and loaded from there.

"testfs://" is a Beam FileSystem registered by this module (Beam finds FileSystem subclasses by their
scheme); it maps onto a tmp folder. The FnApiRunner runs workers in this process, so they see it too."""

from __future__ import annotations

import os
import shutil

import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem
from conftest import ROOT, read_avro, run_pipeline

from transforms.inference.loading import ModelNotAvailable, fetch_remote, model_label

SEED = next((ROOT / "seeds").glob("*.txt"))


class FolderFileSystem(LocalFileSystem):
    """testfs://a/b -> <root>/a/b; counts the files opened for reading."""

    root = ""
    opened: list[str] = []

    @classmethod
    def scheme(cls):
        return "testfs"

    @classmethod
    def local(cls, path: str) -> str:
        # LocalFileSystem's own methods call each other (and so these overrides) with local paths too
        return os.path.join(cls.root, path[len("testfs://") :]) if path.startswith("testfs://") else path

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *paths])

    def _list(self, dir_or_prefix):
        for m in super()._list(self.local(dir_or_prefix)):
            yield FileMetadata(
                "testfs://" + os.path.relpath(m.path, self.root), m.size_in_bytes, m.last_updated_in_seconds
            )

    def exists(self, path):
        return super().exists(self.local(path))

    def open(self, path, *args, **kwargs):
        type(self).opened.append(path)
        return super().open(self.local(path), *args, **kwargs)


def records(folder) -> list[dict]:
    """The run's records without their wall-clock field, sorted by id."""
    rows = [{k: v for k, v in r.items() if k != "ingested_at"} for r in read_avro(str(folder / "articles-*.avro"))]
    return sorted(rows, key=lambda r: r["id"])


@pytest.fixture
def testfs(tmp_path, monkeypatch, tiny_ner):
    root = tmp_path / "bucket"
    shutil.copytree(tiny_ner, root / "models" / tiny_ner.name)  # same folder name: same provenance label
    monkeypatch.setattr(FolderFileSystem, "root", str(root))
    monkeypatch.setattr(FolderFileSystem, "opened", [])
    monkeypatch.setenv("NEWS_INGEST_MODEL_CACHE", str(tmp_path / "cache"))
    return root


def test_remote_ner_model_gives_the_local_records_and_is_copied_once(testfs, tiny_ner, tmp_path):
    url = f"testfs://models/{tiny_ner.name}/"
    assert run_pipeline(["--input", str(SEED), "--output", str(tmp_path / "local"), "--ner-model", str(tiny_ner)]) == 0
    assert run_pipeline(["--input", str(SEED), "--output", str(tmp_path / "remote"), "--ner-model", url]) == 0
    local = records(tmp_path / "local")
    assert local and records(tmp_path / "remote") == local
    assert model_label(url) == tiny_ner.name
    copied = sorted(FolderFileSystem.opened)
    assert copied == sorted(f"{url}{p.name}" for p in tiny_ner.iterdir())  # each file once
    entries = os.listdir(tmp_path / "cache")
    assert len(entries) == 1 and len(entries[0]) == 16  # no partial folder left behind

    assert run_pipeline(["--input", str(SEED), "--output", str(tmp_path / "again"), "--ner-model", url]) == 0
    assert sorted(FolderFileSystem.opened) == copied  # the complete cache entry is reused: no second copy
    assert records(tmp_path / "again") == local


def test_remote_topic_model(testfs, tmp_path):
    from transforms.inference.loading import packaged_minilm

    shutil.copytree(packaged_minilm(), testfs / "minilm")
    assert run_pipeline(["--input", str(SEED), "--output", str(tmp_path / "local")]) == 0
    assert (
        run_pipeline(["--input", str(SEED), "--output", str(tmp_path / "remote"), "--topic-model", "testfs://minilm"])
        == 0
    )
    local, remote = records(tmp_path / "local"), records(tmp_path / "remote")
    assert local and [r["topics"] for r in remote] == [r["topics"] for r in local]
    assert remote[0]["provenance"]["topic_model"] == "embedding:minilm"


def test_missing_remote_model_is_exit_2_with_one_line(testfs, tmp_path, capsys):
    rc = run_pipeline(
        ["--input", str(SEED), "--output", str(tmp_path / "o"), "--ner-model", "testfs://models/nothing/"]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "testfs://models/nothing/ does not exist" in err, err


@pytest.mark.parametrize(
    "remove, message", [(("config.json",), "no config.json"), (("model.safetensors",), "no *.safetensors")]
)
def test_remote_folder_without_config_or_weights(testfs, tiny_ner, tmp_path, remove, message):
    folder = testfs / "models" / tiny_ner.name
    for name in remove:
        os.remove(folder / name)
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelNotAvailable, match=message.replace("*", r"\*")):
        fetch_remote(f"testfs://models/{tiny_ner.name}")
    assert not FolderFileSystem.opened and not (tmp_path / "cache").exists()  # refused before copying


def test_unknown_scheme_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWS_INGEST_MODEL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelNotAvailable, match="cannot be listed"):
        fetch_remote("nosuchfs://bucket/model")
