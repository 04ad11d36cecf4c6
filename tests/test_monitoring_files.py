"""deploy/prometheus (alert rules) and deploy/grafana (a dashboard): checked by promtool, and every metric
they name is one the hub's /metrics really serves."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from hub import create_app
from tests.conftest import IN_CI
from tests.helpers import upload_csv

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "hub_alerts.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "hub_alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "hub_dashboard.json"
METRIC_NAME = re.compile(r"\bhub_[a-z_]+\b")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed: run `bash scripts/install_promtool.sh` (Debian's prometheus package)"
        if IN_CI:
            pytest.fail(message + "; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return found


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    checked = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
    # Each alert fires on the series that should fire it, and not before (deploy/prometheus/hub_alerts_test.yml).
    tested = subprocess.run([promtool(), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent,
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def served_metric_names(database_url: str, redis_url: str, api_token: str) -> set[str]:
    """Every family and sample name of a scrape, once there is something of each kind to count."""
    client = create_app({"database_url": database_url, "redis_url": None}).test_client()
    upload_csv(client, api_token, "day,episode_id,podcast_id,source,downloads\n2025-01-06,007,pod-1,manual,10\n")
    client.post("/webhooks/sheets/acme", data=b"{}")  # a webhook request, so its counter has a sample
    # Scraped from an app with Redis, so the queue and worker families are there too.
    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    names = set()
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_the_rules_and_the_dashboard_name_is_served(database_url, redis_url, tenant):
    served = served_metric_names(database_url, redis_url, tenant["secrets"]["api"])
    rules = yaml.safe_load(RULES.read_text())
    rule_exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    panel_exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(panel_exprs) >= 12
    named = {name for expr in rule_exprs + panel_exprs for name in METRIC_NAME.findall(expr)}
    assert named, "the files name hub metrics"
    assert named - served == set(), f"named but not served by /metrics: {sorted(named - served)}"
    # Grafana reads the data source from the dashboard's own variable, so it imports anywhere.
    assert {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]} == {"${datasource}"}
