"""deploy/dataflow: the flex template's parameters are flags of `news-ingest run`; the launcher runs the CLI.
(Docker images cannot be built here; the Dockerfiles are checked for what the project relies on.)"""

import json

from conftest import ROOT

from pipeline.run import help_parser

DEPLOY = ROOT / "deploy" / "dataflow"


def cli_flags() -> set[str]:
    return {s[2:] for a in help_parser()._actions for s in a.option_strings if s.startswith("--")}


def test_template_parameters_are_cli_flags():
    meta = json.loads((DEPLOY / "metadata.json").read_text())
    names = [p["name"] for p in meta["parameters"]]
    assert len(names) == len(set(names))
    assert set(names) - cli_flags() == set()
    for p in meta["parameters"]:
        assert p["label"] and p["helpText"]


def test_launcher_and_images_use_the_package_and_the_pinned_beam():
    import apache_beam

    launch = (DEPLOY / "launch.py").read_text()
    assert 'main(["run", *sys.argv[1:]])' in launch
    worker = (DEPLOY / "Dockerfile").read_text()
    assert f"apache/beam_python3.11_sdk:{apache_beam.__version__}" in worker
    for folder in ("pipeline", "transforms", "schemas", "models"):
        assert f"COPY {folder} ./{folder}" in worker
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/launch.py" in (DEPLOY / "launcher.Dockerfile").read_text()
