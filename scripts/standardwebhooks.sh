#!/usr/bin/env bash
# Installs the Standard Webhooks reference library for Python (what the webhook receiver in the
# API suite verifies signatures with) into a virtualenv of its own and prints the path of its
# python. Idempotent: a second run only prints the path.
#
#   scripts/standardwebhooks.sh install
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"

VERSION="1.3.0"
VENV="$ORGSVC_TOOLS_HOME/standardwebhooks-$VERSION"

case "${1:-install}" in
    install)
        venv_install standardwebhooks.sh "$VENV" "standardwebhooks==$VERSION" \
            python -c "import standardwebhooks"
        echo "$VENV/bin/python"
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
