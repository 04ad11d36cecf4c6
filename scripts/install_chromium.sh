#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser test (tests/test_browser.py), from Debian's own
# packages: /usr/bin/chromium and /usr/bin/chromedriver. Idempotent. Run as root (or with sudo) on a
# Debian machine; it downloads no browser build of its own.
set -euo pipefail
bash "$(dirname "$0")/apt_install.sh" chromedriver chromium chromium-driver fonts-dejavu-core
command -v chromium >/dev/null 2>&1 || { echo "install_chromium.sh: chromium is missing beside chromedriver" >&2; exit 1; }
echo "chromium: $(chromium --version 2>/dev/null || echo chromium), $(chromedriver --version 2>/dev/null || echo chromedriver)"
