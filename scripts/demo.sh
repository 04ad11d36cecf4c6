#!/usr/bin/env bash
# Command (1) of the README: the hub on its embedded defaults (SQLite, inline jobs, local workbook),
# with the samples loaded and the app on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
exec .venv/bin/python -m hub demo "$@"
