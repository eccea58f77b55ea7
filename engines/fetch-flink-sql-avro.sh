#!/usr/bin/env bash
# Flink SQL's `avro` format for the Flink 1.19.3 distribution (engines/flink.sh), into $ENGINES/jars/
# (ENGINES: $NEWS_INGEST_ENGINES or .engines), from Maven Central with `mvn dependency:copy`.
# The distribution's lib/ has no Avro format; tests/test_flink_sql.py and docs/consumers.md#flink-sql hand
# the jar to Flink by path (sql-client.sh --jar), so nothing is ever downloaded at run time.
#
# Which jar: the proper one is org.apache.flink:flink-sql-avro:<flink>, tried first. Maven Central here
# serves no flink-sql-avro for 1.19.x (only 1.18.1, 1.20.0, 2.x), so the fallback is
# flink-sql-avro-confluent-registry:1.19.1, a fat jar that holds the plain `avro` format too
# (org.apache.flink.formats.avro.AvroFormatFactory and AvroFileFormatFactory, Avro shaded in) besides
# `avro-confluent`. Either present: nothing is done. Also the SQL gateway jar that sql-client.sh needs and the
# Kafka connector for a `kafka` table over a raw output topic (below).
# Exits non-zero when neither can be fetched.
#
# usage: engines/fetch-flink-sql-avro.sh
#        MVN_FLAGS='-o'   extra maven flags;  FORCE=1  fetch again even if present
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENGINES=$(realpath -m "${NEWS_INGEST_ENGINES:-$ROOT/.engines}")
MVN=${MVN:-mvn}
read -r -a MVN_FLAGS <<<"${MVN_FLAGS:-}"
FLINK_VERSION=1.19.3                       # the distribution of engines/flink.sh
FALLBACK=flink-sql-avro-confluent-registry:1.19.1

log() { echo "flink-sql-avro: $*"; }
die() { echo "flink-sql-avro: ERROR: $*" >&2; exit 1; }

JARS=$ENGINES/jars
mkdir -p "$JARS"

fetch_first() {   # fetch_first WHAT GROUP:ARTIFACT:VERSION...: the first one served; nothing if one is present
  local what=$1 a j logf=$JARS/.fetch-flink-sql-avro.log
  shift
  if [[ -z ${FORCE:-} ]]; then
    for a in "$@"; do
      j="$JARS/$(cut -d: -f2 <<<"$a")-${a##*:}.jar"
      if [[ -s $j ]]; then log "$what present (${j#$ROOT/})"; return 0; fi
    done
  fi
  command -v "$MVN" >/dev/null || die "maven ('$MVN') not found on PATH"
  for a in "$@"; do
    j="$JARS/$(cut -d: -f2 <<<"$a")-${a##*:}.jar"
    rm -f "$j"
    # dependency:copy copies the one artifact: both are self-contained (the sql jars shade Avro in)
    if "$MVN" -q -B "${MVN_FLAGS[@]}" dependency:copy -Dartifact="$a" -DoutputDirectory="$JARS" >"$logf" 2>&1 \
       && [[ -s $j ]]; then
      rm -f "$logf"; log "$what: fetched ${j#$ROOT/} ($(du -h "$j" | cut -f1))"; return 0
    fi
    rm -f "$j"
    log "$what: $a not served"
  done
  sed 's/\x1b\[[0-9;]*m//g' "$logf" >&2 || true
  rm -f "$logf"
  die "maven could fetch none of: $*"
}

# the `avro` format: flink-sql-avro:<flink> if served, else the registry fat jar that holds it
fetch_first "avro format" "org.apache.flink:flink-sql-avro:$FLINK_VERSION" "org.apache.flink:$FALLBACK"
# sql-client.sh needs the SQL gateway classes (embedded mode), which PyPI's distribution lacks (no
# opt/flink-sql-gateway jar); 1.19.3 is not served here, 1.19.1 is. sql-client.sh puts it on its classpath
# through HADOOP_CLASSPATH.
fetch_first "sql gateway" "org.apache.flink:flink-sql-gateway:$FLINK_VERSION" "org.apache.flink:flink-sql-gateway:1.19.1"
# a `kafka` table (docs/consumers.md#a-raw-topic-in-flink-sql): the connector's fat SQL jar for Flink 1.19
fetch_first "kafka connector" "org.apache.flink:flink-sql-connector-kafka:3.2.0-1.19"
