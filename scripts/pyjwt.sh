#!/usr/bin/env bash
# Installs PyJWT with its cryptography backend (what the API suite verifies deletion receipts
# with, as any JOSE library would, from the published JWK Set) into a virtualenv of its own and
# prints the path of its python. Idempotent: a second run only prints the path.
#
#   scripts/pyjwt.sh install
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"

VERSION="2.15.1"
CRYPTOGRAPHY="46.0.3"
VENV="$ORGSVC_TOOLS_HOME/pyjwt-$VERSION"

case "${1:-install}" in
    install)
        venv_install pyjwt.sh "$VENV" "PyJWT==$VERSION cryptography==$CRYPTOGRAPHY" \
            python -c "import jwt; from jwt.algorithms import OKPAlgorithm"
        echo "$VENV/bin/python"
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
