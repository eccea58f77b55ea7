#!/usr/bin/env bash
# Beam's Flink 1.19 job server jar, into $ENGINES/jars/ (ENGINES: $NEWS_INGEST_ENGINES or .engines).
# Idempotent: does nothing when either jar below is already there.
#   1. the official org.apache.beam:beam-runners-flink-1.19-job-server:<beam python version>
#      (what a normal network serves)     -> beam-runners-flink-1.19-job-server-<beam>.jar
#   2. else, built from served pieces by engines/flink-job-server/pom.xml (Beam Java 2.70.0 runner,
#      2.65.0 job-service classes, Flink 1.19.3; engines/README.md)
#                                         -> beam-flink-1.19-job-server-java2.70.0.jar
# Exits non-zero when the build fails, so that `make engines` and CI notice.
#
# usage: engines/fetch-flink-job-server.sh
#        PY=.venv/bin/python (default)   the Python whose apache_beam version names the official jar;
#                                        falls back to the apache-beam==X pin in pyproject.toml
#        MVN_FLAGS='-o'                  extra maven flags;  FORCE=1  rebuild even if present
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENGINES=$(realpath -m "${NEWS_INGEST_ENGINES:-$ROOT/.engines}")
PY=${PY:-.venv/bin/python}
MVN=${MVN:-mvn}
read -r -a MVN_FLAGS <<<"${MVN_FLAGS:-}"
JAVA_RUNNER=2.70.0   # keep in step with beam.runner.version in engines/flink-job-server/pom.xml

log() { echo "flink job server: $*"; }
die() { echo "flink job server: ERROR: $*" >&2; exit 1; }

BEAM=$("$PY" -c 'import apache_beam; print(apache_beam.__version__)' 2>/dev/null) \
  || BEAM=$(sed -nE 's/.*"apache-beam==([0-9][0-9A-Za-z.]*)".*/\1/p' pyproject.toml | head -n 1)
[[ -n $BEAM ]] || die "cannot tell the Beam version ($PY cannot import apache_beam, no apache-beam==X in pyproject.toml)"

JARS=$ENGINES/jars
OFFICIAL=$JARS/beam-runners-flink-1.19-job-server-$BEAM.jar
BUILT=$JARS/beam-flink-1.19-job-server-java$JAVA_RUNNER.jar
mkdir -p "$JARS"
# one build at a time (parallel `make engines`); the second one then finds the jar present
exec 9>"$JARS/.flink-job-server.lock"
flock -w 900 9 || die "could not get $JARS/.flink-job-server.lock"
if [[ -z ${FORCE:-} ]]; then
  for jar in "$OFFICIAL" "$BUILT"; do
    if [[ -s $jar ]]; then log "present (${jar#$ROOT/})"; exit 0; fi
  done
fi
command -v "$MVN" >/dev/null || die "maven ('$MVN') not found on PATH"

# 1. the official jar (a few seconds to learn that it is not served)
if "$MVN" -q -B -U "${MVN_FLAGS[@]}" dependency:copy \
     -Dartifact="org.apache.beam:beam-runners-flink-1.19-job-server:$BEAM" \
     -DoutputDirectory="$JARS" >/dev/null 2>&1 && [[ -s $OFFICIAL ]]; then
  log "fetched the official jar (${OFFICIAL#$ROOT/}, $(du -h "$OFFICIAL" | cut -f1))"
  exit 0
fi

# 2. build it (first time 1-4 min, ~190 MB of downloads into ~/.m2; 15-45 s once they are cached)
log "org.apache.beam:beam-runners-flink-1.19-job-server:$BEAM is not served; building ${BUILT#$ROOT/} (~155 MB)"
command -v java >/dev/null || die "java not found on PATH (need Java 11+)"
SCRATCH=$ENGINES/build/flink-job-server
t0=$SECONDS
rm -f "$BUILT.part"
# (the sed drops the stray colour codes Debian's Maven 3.8 prints even with -B; pipefail keeps mvn's status)
if ! "$MVN" -q -B -U "${MVN_FLAGS[@]}" -f engines/flink-job-server/pom.xml package \
       -DbuildDir="$SCRATCH" -DoutJar="$BUILT.part" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g'; then
  rm -f "$BUILT.part"
  die "maven could not build the job server jar (see output above)"
fi
[[ -s $BUILT.part ]] || die "build finished but $BUILT.part is missing"
mv -f "$BUILT.part" "$BUILT"
rm -rf "$SCRATCH"                       # maven scratch, not needed
rmdir "$ENGINES/build" 2>/dev/null || true
log "built ${BUILT#$ROOT/} ($(du -h "$BUILT" | cut -f1), $((SECONDS - t0))s)"
