#!/usr/bin/env bash
# Installs the SDK generators the client-app tests run, at pinned versions, and prints the
# directory holding them:
#   DIR/python/bin/openapi-python-client   (with httpx, attrs and python-dateutil, which the
#                                            generated Python client imports, and mypy to
#                                            type-check a program using it)
#   DIR/node/node_modules/.bin/openapi-ts  (@hey-api/openapi-ts)
#   DIR/node/node_modules/.bin/tsc         (TypeScript, to type-check the generated client)
# Idempotent: a second run only prints the directory.
#
#   scripts/sdk-generators.sh install
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"

PYTHON_CLIENT="0.29.1"
HEY_API="0.98.0"
TYPESCRIPT="5.9.3"
# Not dependencies of the generator: the client it generates imports dateutil; mypy checks it.
DATEUTIL="2.9.0.post0"
MYPY="2.4.1"
DIR="$ORGSVC_TOOLS_HOME/sdk-generators-py$PYTHON_CLIENT-ts$HEY_API-$TYPESCRIPT-mypy$MYPY"

install_node() {
    local node="$DIR/node"
    [ -x "$node/node_modules/.bin/openapi-ts" ] && [ -x "$node/node_modules/.bin/tsc" ] && return
    command -v npm >/dev/null || { echo "sdk-generators.sh: npm is needed" >&2; exit 1; }
    echo "sdk-generators.sh: installing @hey-api/openapi-ts $HEY_API and typescript $TYPESCRIPT (once)" >&2
    rm -rf "$node.tmp"
    mkdir -p "$node.tmp"
    (cd "$node.tmp" && npm init -y >/dev/null &&
        npm install --silent --no-audit --no-fund \
            "@hey-api/openapi-ts@$HEY_API" "typescript@$TYPESCRIPT" "@types/node@20" >&2)
    rm -rf "$node"
    mv "$node.tmp" "$node"
}

case "${1:-install}" in
    install)
        mkdir -p "$DIR"
        venv_install sdk-generators.sh "$DIR/python" \
            "openapi-python-client==$PYTHON_CLIENT python-dateutil==$DATEUTIL mypy==$MYPY" \
            sh -c "openapi-python-client --version && mypy --version && python -c 'import dateutil'"
        install_node
        echo "$DIR"
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
