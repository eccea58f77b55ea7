# Flex template launcher: builds the job graph from the template's parameters and submits it.
#   gcloud builds submit --tag REGION-docker.pkg.dev/PROJECT/news/launcher:latest -f deploy/dataflow/launcher.Dockerfile .
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base

WORKDIR /template
COPY pyproject.toml setup.py README.md ./
COPY pipeline ./pipeline
COPY transforms ./transforms
COPY schemas ./schemas
COPY models ./models
COPY deploy/dataflow/launch.py ./launch.py
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir ".[gcp,kafka]"

ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/launch.py
ENV FLEX_TEMPLATE_PYTHON_SETUP_FILE=/template/setup.py
