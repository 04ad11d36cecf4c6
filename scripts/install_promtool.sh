#!/usr/bin/env bash
# promtool, for the suite's check of the alert rules (deploy/prometheus/), from Debian's own `prometheus`
# package (/usr/bin/promtool). Idempotent. Run as root (or with sudo) on a Debian machine. Only the tool
# is used: no Prometheus server is started by the tests.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  echo "promtool already installed: $(command -v promtool)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install_promtool.sh: needs root (or sudo) to apt-get install prometheus" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends prometheus
command -v promtool >/dev/null 2>&1 || { echo "install_promtool.sh: promtool still missing" >&2; exit 1; }
echo "installed: $(promtool --version 2>&1 | head -1)"
