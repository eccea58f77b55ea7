#!/usr/bin/env bash
# Prism, Beam's portable local runner (a Go program), built from the Go module proxy at the version of
# the installed Beam Python SDK, into $ENGINES/bin/prism. Idempotent: skips a binary that reports the
# right version. (Beam itself would download a release zip from GitHub, which is unreachable here.)
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINES=${NEWS_INGEST_ENGINES:-$PWD/.engines}
PY=${PY:-.venv/bin/python}
BEAM=$("$PY" -c 'import apache_beam; print(apache_beam.__version__)')
mkdir -p "$ENGINES/bin"
if [ -x "$ENGINES/bin/prism" ] && [ "$(cat "$ENGINES/bin/prism.version" 2>/dev/null)" = "$BEAM" ]; then
  echo "prism $BEAM: present ($ENGINES/bin/prism)"
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build Prism (go install)" >&2; exit 1; }
echo "prism $BEAM: go install github.com/apache/beam/sdks/v2/go/cmd/prism@v$BEAM (a few minutes the first time)"
# The checksum database is not reachable here (only the module proxy is), hence GOSUMDB=off.
GOBIN="$ENGINES/bin" GOSUMDB=off GOFLAGS=-modcacherw go install "github.com/apache/beam/sdks/v2/go/cmd/prism@v$BEAM"
echo "$BEAM" > "$ENGINES/bin/prism.version"
echo "prism $BEAM: built ($ENGINES/bin/prism)"
