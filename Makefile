# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-full install clean engines kafka-up kafka-down flink-up flink-down

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m pipeline run --input 'seeds/*' --output out/
	$(PY) -m pipeline inspect $$(ls out/articles-*.avro | head -n 1) --limit 1 | head -c 2000; echo

test: lint
	$(PY) -m pytest -q

# The house rules (CONTRIBUTING.md): lint, format, the import contracts between layers, types of the core.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The default path (no backend flag) first, then every other backend, with quality next to speed (needs ../shared).
bench: $(STAMP)
	$(PY) -m bench.bench --limit 200 --naive-sample 200 --compare-backend onnxruntime --compare-backend torch \
		--repeats 3 --ref-repeats 3 --quality --skip-workers --sizes "" --report bench/RESULTS.md

# Scale: all 1,251 articles, 2 local workers, synthetic 1k/5k/20k (about 35 minutes).
bench-full: $(STAMP)
	$(PY) -m bench.bench --compare-backend torch --repeats 3 --naive-sample 60 --report bench/RESULTS-full.md

# Engine files for --runner PrismRunner / FlinkRunner and the Kafka IO, into .engines/ (not part of `make run`:
# the in-process runner needs none of them). From the Go module proxy, Maven Central and PyPI only:
# Prism, Beam's Flink job server jar (built from Maven Central pieces when the official one is not served),
# the Flink 1.19.3 distribution (PyPI), the Kafka broker and expansion service jars, Spark's Avro data source jar,
# Flink SQL's Avro format and SQL gateway jars.
engines: $(STAMP)
	PY=$(PY) engines/fetch-prism.sh
	PY=$(PY) engines/fetch-flink-job-server.sh
	PY=$(PY) engines/flink.sh install
	engines/fetch-kafka.sh
	PY=$(PY) engines/fetch-spark-avro.sh
	engines/fetch-flink-sql-avro.sh

# A single-node Kafka broker (KRaft) on 127.0.0.1:9092, data wiped on every start, logs in .engines/kafka/logs/.
kafka-up:
	engines/kafka.sh up

kafka-down:
	engines/kafka.sh down

# A Flink 1.19.3 session cluster on localhost:8081 (JobManager + 1 TaskManager with 2 slots; `FLINK_TASKMANAGERS=N
# make flink-up` for N). Idempotent: a dead TaskManager is replaced. Logs and pid files in .engines/flink/{log,run}/.
flink-up:
	engines/flink.sh up

flink-down:
	engines/flink.sh down

clean:
	rm -rf out/ .pytest_cache
