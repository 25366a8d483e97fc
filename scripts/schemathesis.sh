#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer the API suite runs) into a virtualenv of its own and
# prints the path of its `st` command. Idempotent: a second run only prints the path.
#
#   scripts/schemathesis.sh install
set -euo pipefail

VERSION="4.32.5"
HOME_DIR="${ORGSVC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orgsvc}"
VENV="$HOME_DIR/schemathesis-$VERSION"
ST="$VENV/bin/st"

install() {
    if [ -x "$ST" ] && "$ST" --version >/dev/null 2>&1; then
        echo "$ST"
        return
    fi
    command -v python3 >/dev/null || { echo "schemathesis.sh: python3 is needed" >&2; exit 1; }
    echo "schemathesis.sh: installing schemathesis $VERSION (once)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
    "$ST" --version >/dev/null
    echo "$ST"
}

case "${1:-install}" in
    install) install ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
