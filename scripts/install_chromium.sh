#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser test (tests/test_browser.py), from Debian's own
# packages: /usr/bin/chromium and /usr/bin/chromedriver. Idempotent: does nothing when both are there.
# Run as root (or with sudo) on a Debian machine; it downloads no browser build of its own.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "chromium and chromedriver already installed: $(command -v chromium), $(command -v chromedriver)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install_chromium.sh: needs root (or sudo) to apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver fonts-dejavu-core

command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || {
  echo "install_chromium.sh: chromium or chromedriver still missing after apt-get install" >&2
  exit 1
}
echo "installed: $(chromium --version 2>/dev/null || echo chromium), $(chromedriver --version 2>/dev/null || echo chromedriver)"
