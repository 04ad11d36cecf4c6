#!/usr/bin/env bash
# promtool, for the suite's check of the alert rules (deploy/prometheus/), from Debian's own `prometheus`
# package (/usr/bin/promtool). Only the tool is used: no Prometheus server is started by the tests.
set -euo pipefail
bash "$(dirname "$0")/apt_install.sh" promtool prometheus
echo "promtool: $(promtool --version 2>&1 | head -1)"
