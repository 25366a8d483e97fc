#!/usr/bin/env bash
# Installs prometheus_client (the Prometheus project's Python client, whose text-format parser
# the metrics test reads GET /metrics with) into a virtualenv of its own, and prints the path of
# its python. Idempotent: a second run only prints the path.
#
#   scripts/prometheus-client.sh install
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"

VERSION="0.23.1"
VENV="$ORGSVC_TOOLS_HOME/prometheus-client-$VERSION"

case "${1:-install}" in
    install)
        venv_install prometheus-client.sh "$VENV" "prometheus_client==$VERSION" \
            python -c "import prometheus_client.parser"
        echo "$VENV/bin/python"
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
