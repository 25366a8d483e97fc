#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer the API suite runs) into a virtualenv of its own and
# prints the path of its `st` command. Idempotent: a second run only prints the path.
#
#   scripts/schemathesis.sh install
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"

VERSION="4.32.5"
VENV="$ORGSVC_TOOLS_HOME/schemathesis-$VERSION"

case "${1:-install}" in
    install)
        venv_install schemathesis.sh "$VENV" "schemathesis==$VERSION" st --version
        echo "$VENV/bin/st"
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
