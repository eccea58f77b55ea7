#!/usr/bin/env bash
# Fetch/build everything the Kafka tests need, from Maven Central only:
#   .engines/kafka/libs/                                   broker jars (engines/kafka-broker/pom.xml)
#   .engines/jars/beam-kafka-expansion-service-2.73.0.jar  shaded KafkaIO expansion service
#                                                          (engines/kafka-expansion-service/pom.xml)
# Idempotent: each part is skipped when its output is already there.
#
# usage: engines/fetch-kafka.sh [all|broker|expansion]     (default: all)
#        MVN_FLAGS='-Dmaven.repo.local=/tmp/m2' engines/fetch-kafka.sh   extra maven flags
#        FORCE=1 engines/fetch-kafka.sh                     rebuild even if present
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BEAM_VERSION=${BEAM_VERSION:-2.73.0}
LIBS=$ROOT/.engines/kafka/libs
JAR=$ROOT/.engines/jars/beam-kafka-expansion-service-$BEAM_VERSION.jar
MVN=${MVN:-mvn}
# extra maven flags, e.g. MVN_FLAGS="-o" or "-Dmaven.repo.local=/tmp/m2"
read -r -a MVN_FLAGS <<<"${MVN_FLAGS:-}"
what=${1:-all}

die() { echo "fetch-kafka: ERROR: $*" >&2; exit 1; }

command -v "$MVN" >/dev/null || die "maven ('$MVN') not found on PATH"
command -v java >/dev/null || die "java not found on PATH (need Java 11+)"

fetch_broker() {
  if [[ -z "${FORCE:-}" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    echo "fetch-kafka: broker libs present in ${LIBS#$ROOT/} (skip)"
    return
  fi
  echo "fetch-kafka: fetching Kafka broker jars -> ${LIBS#$ROOT/}"
  rm -rf "$LIBS.tmp"
  if ! "$MVN" -q -B "${MVN_FLAGS[@]}" -f engines/kafka-broker/pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp"; then
    rm -rf "$LIBS.tmp"
    die "maven could not fetch the broker jars (see output above)"
  fi
  compgen -G "$LIBS.tmp/kafka_2.13-*.jar" >/dev/null || die "no kafka_2.13 jar after fetch"
  rm -rf "$LIBS"; mv "$LIBS.tmp" "$LIBS"
  echo "fetch-kafka: $(ls "$LIBS" | wc -l) jars in ${LIBS#$ROOT/}"
}

build_expansion() {
  if [[ -z "${FORCE:-}" && -s "$JAR" ]]; then
    echo "fetch-kafka: ${JAR#$ROOT/} present (skip)"
    return
  fi
  echo "fetch-kafka: building ${JAR#$ROOT/} (shaded; ~20-40 s, ~90 MB)"
  rm -f "$JAR"
  "$MVN" -q -B "${MVN_FLAGS[@]}" -f engines/kafka-expansion-service/pom.xml package \
      -Dbeam.version="$BEAM_VERSION" \
    || die "maven could not build the expansion service jar (see output above)"
  [[ -s "$JAR" ]] || die "build finished but $JAR is missing"
  rm -rf .engines/build/kafka-expansion-service   # maven scratch, not needed
  rmdir .engines/build 2>/dev/null || true
  echo "fetch-kafka: built ${JAR#$ROOT/} ($(du -h "$JAR" | cut -f1))"
}

case "$what" in
  all)       fetch_broker; build_expansion ;;
  broker)    fetch_broker ;;
  expansion) build_expansion ;;
  *) die "unknown target '$what' (use all|broker|expansion)" ;;
esac
