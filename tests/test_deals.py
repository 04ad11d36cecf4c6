"""The deal pipeline: deals through the ingest pipeline, final stages refused row by row, deal.stage_changed
exactly once, the deals API, and ENABLE_DEAL_PIPELINE switching it all off."""
from __future__ import annotations

import io
import json
import threading
from dataclasses import replace

import pytest

from hub import create_app
from hub.config import FeatureFlags

from hub.models import Campaign, Event
from hub.workflows.deals import StageRefused, move_stage
from tests.conftest import make_tenant
from tests.helpers import backend_pid, import_text, messages, observer, rows, wait_until_blocked_by

HEADER = "campaign_id,sponsor_id,name,budget,stage\n"


def deals(url, tenant, *lines):
    return import_text(url, tenant["id"], "deals", HEADER + "".join(line + "\n" for line in lines))


def stage_events(url):
    return [(e.subject, e.payload) for e in rows(url, Event, Event.created_at, Event.id) if e.name == "deal.stage_changed"]


def campaigns(url):
    return {c.campaign_id: c for c in rows(url, Campaign, Campaign.campaign_id)}


def auth(tenant):
    return {"Authorization": f"Bearer {tenant['secrets']['api']}"}


def test_deals_csv_upserts_campaigns_and_emits_each_stage_change_once(database_url, tenant):
    summary = deals(database_url, tenant, 'camp-1,sp-1,Acme Q1,"$1,500.00",lead', "camp-2,sp-2,Beta launch,200,won")
    assert summary["status"] == "completed"
    assert summary["counts"] == {"rows": 2, "inserted": 2, "updated": 0, "unchanged": 0, "refused": 0}
    stored = campaigns(database_url)
    assert (stored["camp-1"].sponsor_id, stored["camp-1"].name, stored["camp-1"].budget_cents, stored["camp-1"].stage) \
        == ("sp-1", "Acme Q1", 150000, "lead")
    assert (stored["camp-2"].budget_cents, stored["camp-2"].stage) == (20000, "won")
    assert stored["camp-1"].stage_changed_at is not None
    # A new deal enters the pipeline: old_stage is null.
    assert stage_events(database_url) == [
        ("camp-1", {"campaign_id": "camp-1", "old_stage": None, "new_stage": "lead"}),
        ("camp-2", {"campaign_id": "camp-2", "old_stage": None, "new_stage": "won"}),
    ]
    first_change = stored["camp-1"].stage_changed_at

    moves = 'camp-1,sp-1,Acme Q1,"$1,500.00",Proposal\ncamp-2,sp-2,Beta launch,200,proposal'
    summary = deals(database_url, tenant, moves)
    assert summary["status"] == "completed_with_errors"
    assert messages(summary) == ["row 3, stage: cannot move deal camp-2 from won to proposal; won is final"]
    assert summary["row_errors"][0]["raw"]["stage"] == "proposal", "the refused row is kept with its raw values"
    assert (summary["counts"]["updated"], summary["counts"]["refused"]) == (1, 1)
    stored = campaigns(database_url)
    assert (stored["camp-1"].stage, stored["camp-2"].stage) == ("proposal", "won")
    assert stored["camp-1"].stage_changed_at > first_change
    assert stage_events(database_url)[2:] == [
        ("camp-1", {"campaign_id": "camp-1", "old_stage": "lead", "new_stage": "proposal"})]

    # The same input again: nothing changes, nothing is emitted; the final-stage move is refused again.
    changed_at = stored["camp-1"].stage_changed_at
    summary = deals(database_url, tenant, moves)
    assert (summary["counts"]["unchanged"], summary["counts"]["refused"]) == (1, 1)
    assert len(stage_events(database_url)) == 3
    assert campaigns(database_url)["camp-1"].stage_changed_at == changed_at


def test_deals_as_records_move_back_and_forth_until_final(database_url, tenant):
    def push(*records):
        return import_text(database_url, tenant["id"], "deals", json.dumps(list(records)), input_format="records")

    assert push({"campaign_id": "camp-9", "stage": "Negotiation", "budget_cents": 5000})["counts"]["inserted"] == 1
    summary = push({"campaign_id": "camp-9", "stage": "qualified"})  # backwards among the open stages is allowed
    assert summary["counts"]["updated"] == 1
    summary = push({"campaign_id": "camp-9", "stage": "lost"}, {"campaign_id": "camp-10", "stage": "closed"})
    assert messages(summary) == ["row 2, stage: expected one of lead/qualified/proposal/negotiation/won/lost, found 'closed'"]
    summary = push({"campaign_id": "camp-9", "stage": "lead"})
    assert messages(summary) == ["row 1, stage: cannot move deal camp-9 from lost to lead; lost is final"]
    assert [(p["old_stage"], p["new_stage"]) for _, p in stage_events(database_url)] == [
        (None, "negotiation"), ("negotiation", "qualified"), ("qualified", "lost")]
    (camp,) = campaigns(database_url).values()
    assert (camp.stage, camp.budget_cents) == ("lost", 5000), "columns a row does not carry are left as they are"


def test_blank_stage_keeps_the_stage_and_other_columns_update(database_url, tenant):
    deals(database_url, tenant, "camp-1,sp-1,Acme,100,negotiation")
    summary = import_text(database_url, tenant["id"], "deals", "campaign_id,name,stage\ncamp-1,Acme renamed,\ncamp-2,New,\n")
    assert (summary["counts"]["updated"], summary["counts"]["inserted"]) == (1, 1)
    stored = campaigns(database_url)
    assert (stored["camp-1"].name, stored["camp-1"].stage, stored["camp-1"].budget_cents) == ("Acme renamed", "negotiation", 10000)
    assert stored["camp-2"].stage == "lead", "a new deal without a stage starts as a lead"
    assert [p["new_stage"] for _, p in stage_events(database_url)] == ["negotiation", "lead"]
    summary = import_text(database_url, tenant["id"], "deals", "campaign_id,stage\ncamp-1,won\ncamp-1,lost\n")
    assert messages(summary) == [
        "row 3, campaign_id: duplicate of row 2: same campaign_id (camp-1); expected each key once per input"]


def test_stage_api_moves_refuses_and_emits(client, database_url, tenant):
    deals(database_url, tenant, "camp-1,sp-1,Acme Q1,1500,negotiation")
    response = client.patch("/api/v1/deals/camp-1/stage", json={"stage": "won"}, headers=auth(tenant))
    assert response.status_code == 200
    body = response.get_json()
    assert (body["campaign_id"], body["stage"], body["final"], body["budget_cents"]) == ("camp-1", "won", True, 150000)
    assert body["stage_changed_at"] is not None
    events = [e for e in rows(database_url, Event, Event.created_at) if e.name == "deal.stage_changed"]
    assert events[-1].payload == {"campaign_id": "camp-1", "old_stage": "negotiation", "new_stage": "won"}
    assert events[-1].dispatched_at is not None, "the dispatch ran after the commit (inline without Redis)"

    refused = client.patch("/api/v1/deals/camp-1/stage", json={"stage": "proposal"}, headers=auth(tenant))
    assert (refused.status_code, refused.get_json()["error"]) == (
        422, "cannot move deal camp-1 from won to proposal; won is final")
    bad = client.patch("/api/v1/deals/camp-1/stage", json={"stage": "signed"}, headers=auth(tenant))
    assert (bad.status_code, bad.get_json()["error"]) == (
        422, "stage: expected one of lead/qualified/proposal/negotiation/won/lost, found 'signed'")
    assert client.patch("/api/v1/deals/camp-1/stage", data="won", headers=auth(tenant)).status_code == 400
    missing = client.patch("/api/v1/deals/nope/stage", json={"stage": "won"}, headers=auth(tenant))
    assert (missing.status_code, missing.get_json()["error"]) == (404, "no deal 'nope' for this tenant")
    assert client.patch("/api/v1/deals/camp-1/stage", json={"stage": "won"}).status_code == 401
    same = client.patch("/api/v1/deals/camp-1/stage", json={"stage": "won"}, headers=auth(tenant))
    assert same.status_code == 200
    assert len(stage_events(database_url)) == 2, "staying put is not a change"

    other = make_tenant(database_url, "other")
    assert client.get("/api/v1/deals/camp-1", headers=auth(other)).status_code == 404, "another tenant's deal is absent"


def test_get_deal_lists_its_ios(client, database_url, tenant):
    deals(database_url, tenant, "camp-1,sp-1,Acme Q1,1500,proposal")
    import_text(database_url, tenant["id"], "io_bookings",
                "io_id,campaign_id,flight_start,flight_end,booked_impressions,status\n"
                "IO-2,camp-1,2025-02-01,2025-02-28,5000,scheduled\nIO-1,camp-1,2025-01-01,2025-01-31,1000,draft\n"
                "IO-3,camp-other,2025-01-01,2025-01-31,1000,draft\n")
    response = client.get("/api/v1/deals/camp-1", headers=auth(tenant))
    assert response.status_code == 200
    body = response.get_json()
    assert (body["stage"], body["budget_cents"], body["name"], body["sponsor_id"]) == ("proposal", 150000, "Acme Q1", "sp-1")
    assert [(i["io_id"], i["status"]) for i in body["ios"]] == [("IO-1", "draft"), ("IO-2", "scheduled")]
    assert client.get("/api/v1/deals/camp-2", headers=auth(tenant)).status_code == 404


def test_deals_upload_and_zapier_stream(client, database_url, tenant):
    upload = client.post("/api/v1/etl/upload", headers=auth(tenant), content_type="multipart/form-data",
                         data={"table": "deals", "file": (io.BytesIO((HEADER + "camp-1,sp-1,Acme,10,lead\n").encode()), "d.csv")})
    assert upload.status_code == 202 and upload.get_json()["status"] == "completed"
    zap = client.post(f"/webhooks/zapier/{tenant['slug']}/deals", json={"deal": {"campaign_id": "camp-1", "stage": "won"}},
                      headers={"Authorization": f"Bearer {tenant['secrets']['zapier']}"})
    assert zap.status_code == 202
    assert campaigns(database_url)["camp-1"].stage == "won"
    assert [p["new_stage"] for _, p in stage_events(database_url)] == ["lead", "won"]


def test_deal_pipeline_switched_off(database_url, tenant):
    client = create_app({"database_url": database_url, "redis_url": None,
                         "flags": replace(FeatureFlags(), deal_pipeline=False)}).test_client()
    deals(database_url, tenant, "camp-1,sp-1,Acme,10,lead")
    expected = "The deal pipeline is switched off on this hub (ENABLE_DEAL_PIPELINE=false)"
    for response in (client.get("/api/v1/deals/camp-1", headers=auth(tenant)),
                     client.patch("/api/v1/deals/camp-1/stage", json={"stage": "won"}, headers=auth(tenant)),
                     client.post("/api/v1/etl/upload", headers=auth(tenant), content_type="multipart/form-data",
                                 data={"table": "deals", "file": (io.BytesIO(HEADER.encode()), "d.csv")}),
                     client.post(f"/webhooks/zapier/{tenant['slug']}/deals", json={"campaign_id": "camp-1", "stage": "won"},
                                 headers={"Authorization": f"Bearer {tenant['secrets']['zapier']}"})):
        assert (response.status_code, response.get_json()["error"]) == (404, expected)
    assert campaigns(database_url)["camp-1"].stage == "lead"


def test_concurrent_moves_of_one_deal_are_serialised(postgres_url):
    tenant = make_tenant(postgres_url)
    deals(postgres_url, tenant, "camp-1,sp-1,Acme,10,negotiation")
    first, second = observer(postgres_url), observer(postgres_url)
    assert move_stage(first, tenant["id"], "camp-1", "won")[1] is True  # holds the row, not committed
    result = {}

    def racing():
        try:
            move_stage(second, tenant["id"], "camp-1", "lost")  # waits on the row lock, then sees won
        except StageRefused as refused:
            result["refused"] = str(refused)
        second.rollback()

    thread = threading.Thread(target=racing)
    holder = backend_pid(first)
    thread.start()
    wait_until_blocked_by(postgres_url, holder)  # the second waits on the row lock the first holds
    first.commit()
    thread.join(timeout=30)
    first.close(), second.close()
    assert result == {"refused": "cannot move deal camp-1 from won to lost; won is final"}
    assert [p["new_stage"] for _, p in stage_events(postgres_url)] == ["negotiation", "won"]


@pytest.mark.parametrize("stage", ["won", "lost"])
def test_final_stages_refuse_every_other_stage(stage):
    from hub.models import DEAL_STAGES
    from hub.workflows.deals import refused_move

    assert refused_move("c", stage, stage) is None
    assert all(refused_move("c", stage, other) == f"cannot move deal c from {stage} to {other}; {stage} is final"
               for other in DEAL_STAGES if other != stage)
    assert all(refused_move("c", a, b) is None for a in ("lead", "qualified", "proposal", "negotiation") for b in DEAL_STAGES)
