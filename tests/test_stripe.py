"""Stripe as a commerce source: signed events (checked with the official library) become orders,
refunds and disputes in attribution_events and metrics_daily, through the receipt job.

The objects are Stripe's own (tests/fixtures/stripe/README.md: stripe/openapi's fixtures3.json, what
stripe-mock serves), put in Stripe's event envelope as Stripe delivers them
(https://docs.stripe.com/api/events/object) and signed as Stripe signs them
(https://docs.stripe.com/webhooks#verify-manually: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"t.body" with the endpoint secret>`). Fields the schema-generated objects leave null that the event
type implies are set below, in plain sight."""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from hub import create_app
from hub.jobs.reconcile import reconcile_job
from hub.models import AttributionEvent, MetricsDaily, WebhookReceipt
from tests.helpers import import_text, rows, work
from tests.test_commerce_webhooks import REDIS_DOWN, age_receipts, store_secret

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "stripe" / "openapi_fixtures3.json").read_text())
SECRET = "whsec_test_5b1e0c3f7d2a4e6b8c9d"
PLACED = FIXTURES["checkout.session"]["created"]  # 1234567890 = 2009-02-13 23:31:30 UTC
PAYMENT_INTENT = FIXTURES["checkout.session"]["payment_intent"]  # pi_1PgafyB7WZ01zgkWSjxsAJo3
IOS = ("io_id,flight_start,flight_end,episode_id,promo_code,status,currency\n"
       "IO-FALL,2009-02-01,2009-02-28,ep-fall,FALL20,live,USD\n")


def event(event_type: str, obj: dict, event_id: str, created: int = PLACED, livemode: bool = True) -> dict:
    """Stripe's event envelope (fixtures3's `event`) around one of its objects. livemode true is how a
    live account sends it; the fixtures, recorded in test mode, say false."""
    envelope = copy.deepcopy(FIXTURES["event"])
    envelope.update(id=event_id, type=event_type, created=created, livemode=livemode, data={"object": obj})
    obj["livemode"] = livemode
    return envelope


def completed_session(**changes) -> dict:
    session = copy.deepcopy(FIXTURES["checkout.session"])
    # What checkout.session.completed implies for a paid one-off payment (null in the generated object).
    session.update(status="complete", payment_status="paid", amount_subtotal=6249, amount_total=4999, currency="usd",
                   # Stripe's promotion code object (fixtures3 promotion_code: code FALL20), expanded.
                   discounts=[{"coupon": None, "promotion_code": copy.deepcopy(FIXTURES["promotion_code"])}])
    session.update(changes)
    return session


def paid_invoice() -> dict:
    invoice = copy.deepcopy(FIXTURES["invoice"])  # in_1Pgc6tB7WZ01zgkWu9fdqL6I, amount_due 1000 usd
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                   metadata={"utm_source": "podcast", "utm_campaign": "FALL20"})
    invoice["status_transitions"]["paid_at"] = PLACED + 60
    return invoice


def refunded_charge(refunded: int) -> dict:
    charge = copy.deepcopy(FIXTURES["charge"])  # ch_1PgafuB7WZ01zgkWXYmPNZs8
    charge.update(amount=4999, amount_captured=4999, captured=True, amount_refunded=refunded,
                  refunded=refunded == 4999, payment_intent=PAYMENT_INTENT)
    return charge


def dispute(status: str) -> dict:
    found = copy.deepcopy(FIXTURES["dispute"])  # dp_1Pgc71B7WZ01zgkWMevJiAUx on that charge
    found.update(status=status, payment_intent=PAYMENT_INTENT, amount=4999)
    return found


def sign(body: bytes, secret: str = SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def post(client, slug: str, payload: dict, secret: str = SECRET, at: int | None = None, signature: str | None = None):
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, secret, at) if signature is None else signature}
    return client.post(f"/webhooks/stripe/{slug}", data=body, headers=headers)


@pytest.fixture
def shop(database_url, tenant):
    store_secret(database_url, tenant["slug"], "stripe", SECRET)
    assert import_text(database_url, tenant["id"], "io_bookings", IOS)["status"] == "completed"
    return tenant


def totals(url) -> dict:
    return {(r.day.isoformat(), r.episode_id): (r.conversions, r.revenue_cents)
            for r in rows(url, MetricsDaily) if r.source == "stripe"}


def only_event(url) -> AttributionEvent:
    (found,) = rows(url, AttributionEvent)
    return found


# -- signatures -----------------------------------------------------------------------------------------


def test_a_signed_event_is_accepted_and_kept_raw(client, database_url, shop):
    payload = event("checkout.session.completed", completed_session(), "evt_session_1")
    answer = post(client, shop["slug"], payload)
    assert answer.status_code == 200 and answer.get_json()["replayed"] is False
    (receipt,) = rows(database_url, WebhookReceipt)
    assert (receipt.platform, receipt.topic, receipt.event_id, receipt.status) == (
        "stripe", "checkout.session.completed", "evt_session_1", "processed")
    assert json.loads(receipt.body) == payload
    assert only_event(database_url).payload["order"]["event"] == payload, "the raw event is kept with the order"


def test_wrong_secret_stale_timestamp_and_unknown_tenant_are_refused(client, database_url, shop):
    payload = event("checkout.session.completed", completed_session(), "evt_session_1")
    wrong = post(client, shop["slug"], payload, secret="whsec_someone_else")
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "Stripe-Signature: No signatures found matching the expected signature for payload"

    stale = post(client, shop["slug"], payload, at=int(time.time()) - 301)  # signed right, 301 s ago
    assert stale.status_code == 401
    assert stale.get_json()["error"].startswith("Stripe-Signature: Timestamp outside the tolerance zone")
    assert post(client, shop["slug"], payload, at=int(time.time()) - 290).status_code == 200, "within 300 s is fine"

    nobody = post(client, "no-such-tenant", payload)
    assert (nobody.status_code, nobody.get_json()) == (wrong.status_code, wrong.get_json()), \
        "an unknown tenant answers exactly as a wrong signature"
    missing = post(client, shop["slug"], payload, signature="")
    assert missing.status_code == 401 and "Stripe-Signature header is missing" in missing.get_json()["error"]
    assert len(rows(database_url, WebhookReceipt)) == 1, "only the good one was kept"


def test_a_signed_body_that_is_not_an_event_is_refused_naming_what_it_lacks(client, database_url, shop):
    answer = post(client, shop["slug"], {"id": "evt_1", "type": "checkout.session.completed"})
    assert answer.status_code == 400
    assert 'expected a Stripe event ("object": "event")' in answer.get_json()["error"]
    assert rows(database_url, WebhookReceipt) == []


# -- each event type's effect ------------------------------------------------------------------------


def test_checkout_session_completed_is_an_attributed_order(client, database_url, shop):
    post(client, shop["slug"], event("checkout.session.completed", completed_session(), "evt_session_1"))
    found = only_event(database_url)
    assert (found.platform, found.order_id, found.status, found.io_id, found.matched_by) == (
        "stripe", PAYMENT_INTENT, "open", "IO-FALL", "promo_code")
    assert (found.revenue_cents, found.currency, found.day.isoformat()) == (4999, "USD", "2009-02-13")
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (1, 4999)}


def test_session_discount_breakdown_and_metadata_utm_are_read(client, database_url, shop):
    # total_details.breakdown.discounts[].discount, expanded, with Stripe's coupon object (id Z4OV52SU).
    coupon = copy.deepcopy(FIXTURES["coupon"])
    session = completed_session(discounts=[], metadata={"utm_campaign": "fall20", "utm_source": "podcast"})
    session["total_details"]["breakdown"] = {"discounts": [{"amount": 1250, "discount": {"coupon": coupon}}]}
    post(client, shop["slug"], event("checkout.session.completed", session, "evt_session_utm"))
    found = only_event(database_url)
    assert found.payload["codes"] == ["Z4OV52SU", "25.5% off", "fall20"]
    assert found.payload["utm"] == {"utm_campaign": "fall20", "utm_source": "podcast"}
    assert (found.io_id, found.status) == ("IO-FALL", "open"), "utm_campaign naming a code counts as the code"


def test_livemode_false_is_stored_but_not_counted(client, database_url, shop):
    post(client, shop["slug"], event("checkout.session.completed", completed_session(), "evt_test_mode", livemode=False))
    found = only_event(database_url)
    assert (found.status, found.io_id, found.revenue_cents) == ("test", "IO-FALL", 4999)
    assert totals(database_url) == {}, "no credit, so no shop row: a test-mode order counts for nothing"


def test_invoice_paid_is_an_order_for_the_invoice(client, database_url, shop):
    post(client, shop["slug"], event("invoice.paid", paid_invoice(), "evt_invoice_1", created=PLACED + 61))
    found = only_event(database_url)
    assert (found.order_id, found.status, found.io_id, found.revenue_cents) == (
        "in_1Pgc6tB7WZ01zgkWu9fdqL6I", "open", "IO-FALL", 1000)
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (1, 1000)}


def test_charge_refunded_sets_the_order_to_captured_minus_refunded(client, database_url, shop):
    post(client, shop["slug"], event("checkout.session.completed", completed_session(), "evt_session_1"))
    post(client, shop["slug"], event("charge.refunded", refunded_charge(1999), "evt_refund_1", created=PLACED + 3600))
    found = only_event(database_url)
    assert (found.order_id, found.revenue_cents, found.status) == (PAYMENT_INTENT, 3000, "open")
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (1, 3000)}

    post(client, shop["slug"], event("charge.refunded", refunded_charge(4999), "evt_refund_2", created=PLACED + 7200))
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (1, 0)}, "refunded in full: a conversion worth nothing"
    # An older charge event delivered late changes nothing.
    post(client, shop["slug"], event("charge.refunded", refunded_charge(1000), "evt_refund_0", created=PLACED + 1800))
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (1, 0)}


def test_a_refund_for_an_unknown_order_is_noted_and_changes_nothing(client, database_url, shop):
    post(client, shop["slug"], event("charge.refunded", refunded_charge(1999), "evt_refund_1"))
    (receipt,) = rows(database_url, WebhookReceipt)
    assert (receipt.status, receipt.error) == ("processed", "order unknown yet")
    assert rows(database_url, AttributionEvent) == [] and totals(database_url) == {}


def test_a_dispute_stops_the_order_counting_while_it_lasts(client, database_url, shop):
    post(client, shop["slug"], event("checkout.session.completed", completed_session(), "evt_session_1"))
    post(client, shop["slug"], event("charge.dispute.created", dispute("needs_response"), "evt_dispute_1",
                                     created=PLACED + 3600))
    assert only_event(database_url).status == "disputed"
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (0, 0)}

    post(client, shop["slug"], event("charge.dispute.closed", dispute("won"), "evt_dispute_2", created=PLACED + 7200))
    assert only_event(database_url).status == "open"
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (1, 4999)}


def test_a_replayed_event_id_changes_nothing(client, database_url, shop):
    session_event = event("checkout.session.completed", completed_session(), "evt_session_1")
    first = post(client, shop["slug"], session_event).get_json()
    refund = event("charge.refunded", refunded_charge(1999), "evt_refund_1", created=PLACED + 3600)
    post(client, shop["slug"], refund)
    before = (totals(database_url), only_event(database_url).updated_at)

    again = post(client, shop["slug"], session_event)  # Stripe retries the first event
    assert again.status_code == 200 and again.get_json() == {"receipt_id": first["receipt_id"], "replayed": True}
    post(client, shop["slug"], refund)
    assert (totals(database_url), only_event(database_url).updated_at) == before
    assert len(rows(database_url, WebhookReceipt)) == 2


# -- through a real RQ worker and the reconciler --------------------------------------------------------


def test_a_receipt_is_processed_by_a_real_rq_worker(database_url, redis_url, shop, hub_env):
    hub_env(database_url, redis_url)
    client = create_app({"database_url": database_url, "redis_url": redis_url}).test_client()
    receipt_id = post(client, shop["slug"], event("checkout.session.completed", completed_session(),
                                                  "evt_session_1")).get_json()["receipt_id"]
    queue = Queue("hub", connection=Redis.from_url(redis_url))
    assert queue.job_ids == [f"receipt-{receipt_id}"]
    assert [r.status for r in rows(database_url, WebhookReceipt)] == ["queued"]
    work(redis_url)
    assert [r.status for r in rows(database_url, WebhookReceipt)] == ["processed"]
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (1, 4999)}


def test_a_receipt_taken_while_redis_is_down_is_enqueued_by_the_reconciler(database_url, redis_url, shop, hub_env):
    hub_env(database_url, redis_url)
    down = create_app({"database_url": database_url, "redis_url": REDIS_DOWN}).test_client()
    answer = post(down, shop["slug"], event("invoice.paid", paid_invoice(), "evt_invoice_1", created=PLACED + 61))
    assert answer.status_code == 200
    age_receipts(database_url, 61)
    (receipt,) = rows(database_url, WebhookReceipt)
    assert reconcile_job()["receipts"] == [receipt.id]
    work(redis_url)
    assert [r.status for r in rows(database_url, WebhookReceipt)] == ["processed"]
    assert totals(database_url) == {("2009-02-13", "ep-fall"): (1, 1000)}
