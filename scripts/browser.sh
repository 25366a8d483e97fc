#!/usr/bin/env bash
# Installs what the Swagger UI browser test needs: Debian's Chromium and playwright-core (the
# Playwright library without its own browser download, which this network refuses), and prints
# the directory holding playwright-core's node_modules. Idempotent: a second run only prints it.
#
#   scripts/browser.sh install   -> installs if missing, prints the node_modules directory
#   scripts/browser.sh check     -> exit 0 when both are installed, 1 otherwise (installs nothing)
set -euo pipefail

VERSION="1.65.1"
HOME_DIR="${ORGSVC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orgsvc}"
DIR="$HOME_DIR/playwright-core-$VERSION"
CHROMIUM="/usr/bin/chromium"

installed() {
    [ -x "$CHROMIUM" ] && [ -f "$DIR/node_modules/playwright-core/package.json" ]
}

install_chromium() {
    [ -x "$CHROMIUM" ] && return
    command -v apt-get >/dev/null || { echo "browser.sh: apt-get is needed to install chromium" >&2; exit 1; }
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "browser.sh: installing Debian's chromium (once)" >&2
    # `update` only when the package is unknown: it is the slow, network-bound step.
    apt-cache show chromium >/dev/null 2>&1 || $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core >&2
}

install_playwright() {
    [ -f "$DIR/node_modules/playwright-core/package.json" ] && return
    command -v npm >/dev/null || { echo "browser.sh: npm is needed to install playwright-core" >&2; exit 1; }
    echo "browser.sh: installing playwright-core $VERSION (once)" >&2
    rm -rf "$DIR.tmp"
    mkdir -p "$DIR.tmp"
    (cd "$DIR.tmp" && npm install --silent --no-audit --no-fund "playwright-core@$VERSION" >&2)
    rm -rf "$DIR"
    mv "$DIR.tmp" "$DIR"
}

case "${1:-install}" in
    install)
        install_chromium
        install_playwright
        installed
        echo "$DIR/node_modules"
        ;;
    check) installed ;;
    *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac
