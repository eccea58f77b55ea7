"""pyproject.toml: every package folder and data file ships, and the extras name what the commands import."""

from __future__ import annotations

import fnmatch
import re

import tomllib
from conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PROJECT["tool"]["setuptools"]
TOP_LEVEL = ("pipeline", "transforms", "schemas", "models")


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_every_package_folder_is_listed():
    found = {
        p.parent.relative_to(ROOT).as_posix().replace("/", ".")
        for top in TOP_LEVEL
        for p in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert set(SETUPTOOLS["packages"]) == found


def test_data_files_of_the_packages_ship():
    """Every file the code reads at run time (templates, schemas, taxonomies, the embedded model)."""
    data = SETUPTOOLS["package-data"]
    for package, wanted in {
        "pipeline.commands.report": "templates/report.html.j2",
        "schemas": "history/enriched_article-1.0.0.avsc",
        "transforms.topics": "taxonomies/default.yaml",
        "models": "ner-minilm-conll03/model.safetensors",
    }.items():
        assert (ROOT / package.replace(".", "/") / wanted).is_file()
        assert any(fnmatch.fnmatch(wanted, pattern) for pattern in data[package]), (package, wanted)


def test_version_comes_from_the_package_and_the_console_script_from_the_cli():
    import pipeline

    assert "version" in PROJECT["project"]["dynamic"]
    assert PROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pipeline.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", pipeline.__version__)
    assert PROJECT["project"]["scripts"] == {"news-ingest": "pipeline.cli:main"}


def test_extras():
    extras = {k: _names(v) for k, v in PROJECT["project"]["optional-dependencies"].items()}
    core = _names(PROJECT["project"]["dependencies"])
    assert extras["report"] == {"matplotlib", "jinja2"} and extras["train"] == {"tqdm"}
    assert {"onnxruntime", "onnx"} <= core and "onnx" not in extras  # a core dependency, no extra
    assert not {"matplotlib", "jinja2", "tqdm"} & core
    test_extra = PROJECT["project"]["optional-dependencies"]["test"]
    assert "news-ingest[report,train,kafka,gcp]" in test_extra and "pytest" in extras["test"]


def test_train_ner_without_its_extra_names_it(monkeypatch, capsys, tmp_path):
    import sys

    from pipeline.commands.train import ner as train_ner

    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    assert train_ner.main(["--data", str(tmp_path), "--out", str(tmp_path / "model")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "news-ingest train-ner: error: tqdm not installed: pip install 'news-ingest[train]'"
    )
    assert not (tmp_path / "model").exists()
