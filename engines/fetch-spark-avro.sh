#!/usr/bin/env bash
# Spark's Avro data source, org.apache.spark:spark-avro_2.13:<pyspark version>, into $ENGINES/jars/
# (ENGINES: $NEWS_INGEST_ENGINES or .engines), from Maven Central with `mvn dependency:copy`.
# pyspark does not bundle it, and the consumer tests (tests/test_consumers.py) hand it to Spark by path
# (spark.jars) instead of letting Spark resolve --packages through Ivy.
# The jar must be the version of the installed pyspark (the data source uses Spark's internals), so the
# version comes from $PY's pyspark, else from the pyspark==X pin in pyproject.toml.
# Idempotent: does nothing when the jar is already there. Exits non-zero when it cannot be fetched.
#
# usage: engines/fetch-spark-avro.sh
#        PY=.venv/bin/python (default)   the Python whose pyspark version names the jar
#        MVN_FLAGS='-o'                  extra maven flags;  FORCE=1  fetch again even if present
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENGINES=$(realpath -m "${NEWS_INGEST_ENGINES:-$ROOT/.engines}")
PY=${PY:-.venv/bin/python}
MVN=${MVN:-mvn}
read -r -a MVN_FLAGS <<<"${MVN_FLAGS:-}"

log() { echo "spark-avro: $*"; }
die() { echo "spark-avro: ERROR: $*" >&2; exit 1; }

SPARK=$("$PY" -c 'import pyspark; print(pyspark.__version__)' 2>/dev/null) \
  || SPARK=$(sed -nE 's/.*"pyspark==([0-9][0-9A-Za-z.]*)".*/\1/p' pyproject.toml | head -n 1)
[[ -n $SPARK ]] || die "cannot tell the Spark version ($PY cannot import pyspark, no pyspark==X in pyproject.toml)"

JARS=$ENGINES/jars
JAR=$JARS/spark-avro_2.13-$SPARK.jar
if [[ -z ${FORCE:-} && -s $JAR ]]; then
  log "present (${JAR#$ROOT/})"
  exit 0
fi
command -v "$MVN" >/dev/null || die "maven ('$MVN') not found on PATH"
mkdir -p "$JARS"
# dependency:copy copies the one artifact: the rest of what the data source needs (avro, avro-mapred,
# xz) is in pyspark's own jars/.
rm -f "$JAR"
if ! "$MVN" -q -B "${MVN_FLAGS[@]}" dependency:copy \
     -Dartifact="org.apache.spark:spark-avro_2.13:$SPARK" -DoutputDirectory="$JARS" 2>&1 \
     | sed -u 's/\x1b\[[0-9;]*m//g'; then
  rm -f "$JAR"
  die "maven could not fetch org.apache.spark:spark-avro_2.13:$SPARK (see output above)"
fi
[[ -s $JAR ]] || die "maven finished but ${JAR#$ROOT/} is missing"
log "fetched ${JAR#$ROOT/} ($(du -h "$JAR" | cut -f1))"
