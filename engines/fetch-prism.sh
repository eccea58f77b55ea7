#!/usr/bin/env bash
# Prism, Beam's portable local runner (a Go program), built from the Go module proxy into
# $ENGINES/bin/prism, with the patches in engines/prism/ applied (Beam itself would download a release
# zip from GitHub, which is unreachable here).
#
# Why not the release of the Python SDK's own version: Prism up to 2.76 resumes a self-checkpointing
# splittable DoFn at once, ignoring its resume delay (apache/beam#39848), so a streaming job's polling
# sources (PeriodicImpulse, which watches files) spin a core while idle; 2.77 and later honour the delay. Prism
# speaks the portable Fn API to the Python SDK, so its version need not match the SDK's (the whole test
# suite runs on this pair). The two patches remove two busy loops left in 2.78 (engines/README.md).
#
# Idempotent: skips a binary built from the same version and patches.
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINES=${NEWS_INGEST_ENGINES:-$PWD/.engines}
PRISM_VERSION=${PRISM_VERSION:-2.78.0}
MODULE=github.com/apache/beam/sdks/v2
PATCHES=(engines/prism/*.patch)
STAMP="$PRISM_VERSION+$(cat "${PATCHES[@]}" | sha256sum | cut -c1-12)"
mkdir -p "$ENGINES/bin"
if [ -x "$ENGINES/bin/prism" ] && [ "$(cat "$ENGINES/bin/prism.version" 2>/dev/null)" = "$STAMP" ]; then
  echo "prism $STAMP: present ($ENGINES/bin/prism)"
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build Prism (go build)" >&2; exit 1; }
echo "prism $STAMP: building $MODULE/go/cmd/prism@v$PRISM_VERSION with ${#PATCHES[@]} patches (a few minutes the first time)"
# The checksum database is not reachable here (only the module proxy is), hence GOSUMDB=off.
export GOSUMDB=off GOFLAGS=-modcacherw
SRC=$(cd /tmp && go mod download -json "$MODULE@v$PRISM_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$SRC" ] || { echo "error: go mod download $MODULE@v$PRISM_VERSION gave no source folder" >&2; exit 1; }
BUILD="$ENGINES/build/prism-$PRISM_VERSION"
rm -rf "$BUILD"
mkdir -p "$(dirname "$BUILD")"
cp -r "$SRC" "$BUILD"
chmod -R u+w "$BUILD"
for patch in "${PATCHES[@]}"; do
  patch --quiet --forward -p1 -d "$BUILD" < "$patch"
done
(cd "$BUILD" && go build -o "$ENGINES/bin/prism.new" ./go/cmd/prism)
mv "$ENGINES/bin/prism.new" "$ENGINES/bin/prism"
rm -rf "$BUILD"
echo "$STAMP" > "$ENGINES/bin/prism.version"
echo "prism $STAMP: built ($ENGINES/bin/prism)"
