"""The demo and `push-workbook` through the real command line, as a new user runs them, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from hub import create_app
from hub.models import IoBooking, MetricsDaily, utcnow
from tests.helpers import rows


def hub(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_env(request, tmp_path):
    """A fresh, unmigrated database (the demo migrates it) and a folder of its own for the workbook."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database_factory")()
    env = dict(os.environ, HUB_DATABASE_URL=url, HUB_WORKBOOK_DIR=str(tmp_path / "instance"))
    return env, url, tmp_path / "instance"


def tab(path, name: str) -> dict[str, list]:
    table = [list(row) for row in load_workbook(path)[name].iter_rows(values_only=True)]
    return {header: [row[i] for row in table[1:]] for i, header in enumerate(table[0])}


def test_running_the_demo_twice_gives_every_row_ok_unchanged_and_push_workbook_exits_like_import(demo_env):
    env, url, folder = demo_env
    first = hub(env, "demo", "--no-serve")
    assert first.returncode == 0, first.stderr[-2000:]
    today = utcnow().date()
    ios = {io.io_id: io for io in rows(url, IoBooking)}
    book = folder / "workbook-demo.xlsx"
    sheet_status = dict(zip(tab(book, "io_bookings")["io_id"], tab(book, "io_bookings")["status"]))
    assert {io_id: io.status for io_id, io in ios.items()} == sheet_status, "the sheet shows the hub's statuses"
    completed_by_hub = [io for io in ios.values() if io.status == "completed" and io.delivered_at is not None]
    assert completed_by_hub, "the lifecycle completed IOs the sheet had as live, and they were mirrored"
    live = [io for io in ios.values() if io.status == "live"]
    assert live and all(io.flight_start <= today <= io.flight_end for io in live), "flights are around today"
    days = {m.day for m in rows(url, MetricsDaily)}
    assert (min(days), max(days)) == (today - timedelta(days=60), today - timedelta(days=1))
    assert (folder / "demo_tenant.json").exists(), "the demo's secrets sit beside its workbook"

    second = hub(env, "demo", "--no-serve")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "0 refused" in second.stdout
    for name in ("io_bookings", "metrics_daily"):
        statuses = tab(book, name)["hub_status"]
        assert statuses and set(statuses) == {"ok: unchanged"}, (name, sorted(set(statuses))[:5])

    # Then the README's next step: edit the workbook and push a tab (one demo set-up serves both, it is slow).
    push_workbook_exits_like_hub_import_and_its_status_url_answers(env, url, folder)


def push_workbook_exits_like_hub_import_and_its_status_url_answers(env, url, folder):
    book = folder / "workbook-demo.xlsx"
    landed = hub(env, "push-workbook", "--tenant", "demo", "--tab", "io_bookings")
    assert landed.returncode == 0, landed.stderr[-2000:]
    summary = json.loads(landed.stdout)
    assert summary["counts"] == {"rows": 10, "inserted": 0, "updated": 0, "unchanged": 10, "refused": 0}
    assert "pushed tab io_bookings: completed, 0 inserted, 0 updated, 10 unchanged, 0 refused" in landed.stderr
    assert summary["status_url"].startswith("http://127.0.0.1:8000/api/v1/etl/status/")
    token = json.loads((folder / "demo_tenant.json").read_text())["api"]
    answer = create_app({"database_url": url}).test_client().get(
        summary["status_url"].removeprefix("http://127.0.0.1:8000"), headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.get_json()["import_id"] == summary["import_id"]

    workbook = load_workbook(book)
    header = [cell.value for cell in workbook["io_bookings"][1]]
    by_hub = next(io.io_id for io in rows(url, IoBooking, IoBooking.io_id) if io.delivered_at is not None)
    completed_row = tab(book, "io_bookings")["io_id"].index(by_hub) + 2  # an IO the lifecycle completed
    workbook["io_bookings"].cell(row=completed_row, column=header.index("status") + 1).value = "live"
    workbook.save(book)
    refused = hub(env, "push-workbook", "--tenant", "demo", "--tab", "io_bookings")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["row_errors"][0]["message"].startswith(
        f"row {completed_row}, status: cannot move an IO from completed to live")

    workbook["io_bookings"].cell(row=1, column=header.index("flight_end") + 1).value = "flight_ends"
    workbook.save(book)
    unusable = hub(env, "push-workbook", "--tenant", "demo", "--tab", "io_bookings")
    assert unusable.returncode == 2 and json.loads(unusable.stdout)["status"] == "failed"

    missing = hub(dict(env, HUB_WORKBOOK_DIR=str(folder / "nope")), "push-workbook", "--tenant", "demo",
                  "--tab", "io_bookings")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"Error: no workbook at {folder / 'nope' / 'workbook-demo.xlsx'} (the tenant's in HUB_WORKBOOK_DIR): "
        "run 'python -m hub demo --no-serve' to make the demo's"]


def test_committed_samples_are_the_generator_at_its_fixed_anchor(tmp_path):
    """The files tests and docs use are what make_samples.py writes for 2025-01-27, byte for byte."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_samples", "samples/make_samples.py")
    make_samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_samples)
    make_samples.write_workbook(tmp_path / "fixed.xlsx", make_samples.FIXED_ANCHOR, make_samples.N_DAYS)
    assert (tmp_path / "fixed.xlsx").read_bytes() == open("samples/hub_samples.xlsx", "rb").read()
    later = date(2031, 7, 1)
    make_samples.write_workbook(tmp_path / "later.xlsx", later, 60)
    days = [d for d in tab(tmp_path / "later.xlsx", "metrics_daily")["day"]]
    assert (min(days), max(days)) == (datetime(2031, 5, 2), datetime(2031, 6, 30))
