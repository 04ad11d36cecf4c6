#!/usr/bin/env bash
# Command (2) of the README: the whole test suite, the Apps Script under Node and the Python suite.
# PostgreSQL and Redis are taken from HUB_TEST_POSTGRES_URL / HUB_TEST_REDIS_URL (defaults: this
# machine's 127.0.0.1 servers). With CI=true a missing one fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh

if command -v node >/dev/null 2>&1; then
  echo "== Apps Script tests (node --test)"
  (cd appscript && node --test test/*.test.js)
elif [ "${CI:-}" = "true" ]; then
  echo "node is required for the Apps Script tests (CI=true)" >&2
  exit 1
else
  echo "== node not found: skipping the Apps Script tests" >&2
fi

# The admin page's browser test drives Debian's headless chromium, and the alert rules are checked with
# promtool (Debian's prometheus package); install them where we may.
if [ "$(id -u)" = "0" ] || [ "${CI:-}" = "true" ]; then
  bash scripts/install_chromium.sh
  bash scripts/install_promtool.sh
fi

echo "== Layers and import cycles (lint-imports, contracts in .importlinter)"
.venv/bin/lint-imports --no-cache

echo "== Python tests (pytest)"
exec .venv/bin/python -m pytest "$@"
