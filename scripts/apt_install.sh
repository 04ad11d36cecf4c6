#!/usr/bin/env bash
# apt_install.sh COMMAND PACKAGE...: install Debian PACKAGEs unless COMMAND is already on PATH.
# Idempotent; needs root (or sudo). Used by install_chromium.sh and install_promtool.sh.
set -euo pipefail
command_name="$1"
shift

if command -v "$command_name" >/dev/null 2>&1; then
  echo "$command_name already installed: $(command -v "$command_name")"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "apt_install.sh: needs root (or sudo) to apt-get install $*" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "$@"
command -v "$command_name" >/dev/null 2>&1 || { echo "apt_install.sh: $command_name still missing after installing $*" >&2; exit 1; }
