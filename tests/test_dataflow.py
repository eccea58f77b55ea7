"""Dataflow, offline: the job graphs translate for DataflowRunner (--dry_run, nothing is submitted),
and the package Dataflow workers install (the sdist of setup.py) carries the model, taxonomy and
schemas and runs the seed in a venv of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest
from conftest import ROOT

from pipeline.runtime import engines

DRY_RUN = [
    "--runner",
    "DataflowRunner",
    "--dry_run",
    "True",
    "--no_auth",
    "--project",
    "demo",
    "--region",
    "europe-west1",
    "--temp_location",
    "gs://bucket/tmp",
    "--setup_file",
    "./setup.py",
]
GRAPHS = {
    "batch": ["--input", "seeds/000_ea3b11b1fd5ac3e1.txt", "--output", "gs://bucket/out"],
    "streaming-watch": ["--streaming", "--watch", "gs://bucket/in/*.jsonl", "--output", "gs://bucket/out"],
    "streaming-kafka": [
        "--streaming",
        "--kafka-bootstrap",
        "broker:9092",
        "--kafka-topic",
        "articles",
        "--kafka-output-topic",
        "enriched",
        "--output",
        "gs://bucket/out",
    ],
}


@pytest.mark.parametrize("graph", GRAPHS)
def test_graph_translates_for_dataflow_offline(graph, tmp_path):
    pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient", reason="needs news-ingest[gcp]")
    if graph == "streaming-kafka" and not engines.kafka_expansion_jar().is_file():
        pytest.skip("Kafka expansion jar not fetched (make engines)")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", *DRY_RUN, *GRAPHS[graph]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, TMPDIR=str(tmp_path)),  # Beam's stager leaves its 50 MB package build in a temp folder
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.split("summary: ")[-1].splitlines()[0])
    assert summary["ended"] == "submitted" and summary["counts"] == "unavailable from this runner"


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="needs the build package (test extra)")
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (path,) = out.glob("news_ingest-*.tar.gz")
    return path


def test_sdist_carries_model_taxonomy_and_schemas(sdist):
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    for required in (
        "models/ner-minilm-conll03/model.safetensors",
        "models/ner-minilm-conll03/config.json",
        "transforms/topics/taxonomies/default.yaml",
        "schemas/enriched_article.avsc",
        "schemas/dead_letter.avsc",
        "schemas/history/enriched_article-1.1.0.avsc",
        "setup.py",
        "models/topics-minilm-exemplars/exemplars.safetensors",
        "models/topics-minilm-exemplars/encoder-tuned.safetensors",
        "pyproject.toml",
    ):
        assert required in names, required


def test_sdist_installs_and_runs_the_seed_in_a_venv_of_its_own(sdist, tmp_path):
    """The package alone, installed from the sdist (its dependencies borrowed from this test's
    environment through a path entry, since the machine cannot download them again), outside the
    repository: imports resolve into the new venv and the seed becomes one record."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a PYTHONPATH to the checkout would win
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", str(sdist)],
        check=True,
        capture_output=True,
        timeout=600,
        env=env,
    )
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "borrowed-deps.pth").write_text("\n".join(deps) + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run(
        [str(py), "-c", "import pipeline, transforms, schemas, models; print(pipeline.__file__)"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    assert where.startswith(site), where
    proc = subprocess.run(
        [str(py), "-m", "pipeline", "run", "--input", str(ROOT / "seeds" / "*"), "--output", str(work / "out")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.split("summary: ")[-1].splitlines()[0])
    assert summary["records_out"] == 1 and summary["dead_letters"] == 0 and summary["entities"] > 0
