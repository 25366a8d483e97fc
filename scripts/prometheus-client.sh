#!/usr/bin/env bash
# Installs prometheus_client (the Prometheus project's Python client, whose text-format parser
# the metrics test reads GET /metrics with) into a virtualenv of its own, and prints the path of
# its python. Idempotent: a second run only prints the path.
#
#   scripts/prometheus-client.sh install
set -euo pipefail

VERSION="0.23.1"
HOME_DIR="${ORGSVC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orgsvc}"
VENV="$HOME_DIR/prometheus-client-$VERSION"
PY="$VENV/bin/python"

install() {
    if [ -x "$PY" ] && "$PY" -c "import prometheus_client.parser" 2>/dev/null; then
        echo "$PY"
        return
    fi
    command -v python3 >/dev/null || { echo "prometheus-client.sh: python3 is needed" >&2; exit 1; }
    echo "prometheus-client.sh: installing prometheus_client $VERSION (once)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "prometheus_client==$VERSION" >&2
    "$PY" -c "import prometheus_client.parser"
    echo "$PY"
}

case "${1:-install}" in
    install) install ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
