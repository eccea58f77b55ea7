# The package's metadata is in pyproject.toml. This file stays because Beam's --setup_file (how Dataflow
# workers install the package: --setup_file ./setup.py) and the flex template's
# FLEX_TEMPLATE_PYTHON_SETUP_FILE need a setup.py.
from setuptools import setup

setup()
