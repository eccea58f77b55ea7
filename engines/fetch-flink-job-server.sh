#!/usr/bin/env bash
# Beam's Flink job server jar for the installed Beam version, from Maven Central, into $ENGINES/jars/.
# Not served here for any Beam version checked (engines/README.md): this says so and exits 0, so that
# `make engines` still fetches the rest; `news-ingest run --runner FlinkRunner` then stops with exit 2.
set -uo pipefail
cd "$(dirname "$0")/.."
ENGINES=${NEWS_INGEST_ENGINES:-$PWD/.engines}
PY=${PY:-.venv/bin/python}
BEAM=$("$PY" -c 'import apache_beam; print(apache_beam.__version__)')
FLINK=${FLINK_VERSION:-1.19}
ARTIFACT=org.apache.beam:beam-runners-flink-$FLINK-job-server:$BEAM
JAR="$ENGINES/jars/beam-runners-flink-$FLINK-job-server-$BEAM.jar"
mkdir -p "$ENGINES/jars"
if [ -f "$JAR" ]; then echo "flink job server: present ($JAR)"; exit 0; fi
if mvn -q -U dependency:copy -Dartifact="$ARTIFACT" -DoutputDirectory="$ENGINES/jars" >/dev/null 2>&1; then
  echo "flink job server: fetched ($JAR)"
else
  echo "flink job server: $ARTIFACT is not served by Maven Central here; FlinkRunner unavailable (engines/README.md)"
fi
exit 0
