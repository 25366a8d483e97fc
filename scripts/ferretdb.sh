#!/usr/bin/env bash
# Installs FerretDB (a MongoDB wire-compatible server, SQLite-backed) for the test suites, and
# prints the path of its binary. Idempotent: a second run only prints the path.
#
#   scripts/ferretdb.sh install   -> builds it if missing, prints the binary's path
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: `go install pkg@version`
# asks the module proxy for the module's version list (to look for deprecation notices), and the
# proxy these machines reach refuses that request (403). Downloading the exact version works, so
# we download it and build its own cmd/ferretdb. FerretDB's release tooling generates
# build/version/version.txt, which the module zip lacks and the binary refuses to start without;
# we write it with the version we built.
set -euo pipefail

VERSION="v1.24.2"
MODULE="github.com/FerretDB/FerretDB"
HOME_DIR="${ORGSVC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orgsvc}"
BIN="$HOME_DIR/ferretdb-$VERSION/ferretdb"

install() {
    if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
        echo "$BIN"
        return
    fi
    command -v go >/dev/null || { echo "ferretdb.sh: Go is needed to build FerretDB" >&2; exit 1; }
    local work
    work="$(mktemp -d)"
    trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' RETURN
    echo "ferretdb.sh: building FerretDB $VERSION (once; takes a few minutes)" >&2
    local dir
    dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -d "$dir" ] || { echo "ferretdb.sh: download of $MODULE@$VERSION failed" >&2; exit 1; }
    cp -R "$dir" "$work/src"
    chmod -R u+w "$work/src"
    echo "$VERSION" > "$work/src/build/version/version.txt"
    mkdir -p "$(dirname "$BIN")"
    (cd "$work/src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o "$BIN.tmp" ./cmd/ferretdb)
    mv "$BIN.tmp" "$BIN"
    "$BIN" --version >/dev/null
    echo "$BIN"
}

case "${1:-install}" in
    install) install ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
