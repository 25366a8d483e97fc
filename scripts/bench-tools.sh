#!/usr/bin/env bash
# Installs the load generator the benchmarks use (wrk, from Debian). Idempotent.
set -euo pipefail
if command -v wrk >/dev/null; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq wrk
