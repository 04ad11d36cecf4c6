"""Wix webhooks: JWT verification (RS256 only), unpacking the nested JSON strings, and Order mapping.

A throwaway RSA key pair stands in for Wix's: the tests sign the documented envelope with its
private half and the decoder verifies with the public PEM, as an endpoint does with the key from
the Wix app dashboard. Fixture sources are cited above each loader.
"""
from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.wix import WixError, WixEvent, decode_wix_webhook, order_from_wix

FIXTURES = Path(__file__).parent / "fixtures" / "wix"
INSTANCE_ID = "a4b1c2d3-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# Source: Wix REST docs, eCommerce Orders, "Order Approved" webhook
# (https://dev.wix.com/docs/rest/business-solutions/e-commerce/orders/order-approved; eventType
# wix.ecom.v1.order_approved, entityFqdn wix.ecom.v1.order, slug approved, actionEvent.body.order).
# Event id, entity id, order number and dates are the docs' example; price summary, applied coupon
# and balance summary are ours, with field names from the eCom Order object
# (https://dev.wix.com/docs/rest/business-solutions/e-commerce/orders/order-object, Orders API v1).
def approved_event() -> dict:
    return load("order_approved.json")


# Source: Wix REST docs, eCommerce Orders, "Payment Status Updated" webhook
# (https://dev.wix.com/docs/rest/business-solutions/e-commerce/orders/orders/payment-status-updated;
# eventType wix.ecom.v1.order_payment_status_updated, slug payment_status_updated, actionEvent.body =
# {order, previousPaymentStatus}). paymentStatus PARTIALLY_REFUNDED per the Order object's enum;
# balanceSummary.refunded is from our knowledge of the Order object, not checked against the page.
def payment_event() -> dict:
    return load("order_payment_status_updated.json")


# Source: Wix REST docs, eCommerce Orders, "Order Canceled" webhook (eventType wix.ecom.v1.order_canceled,
# slug canceled, actionEvent.body.order with status CANCELED), same structure as Order Approved.
def canceled_event() -> dict:
    return load("order_canceled.json")


# Source: Wix REST docs, Forms, "Submission Created" webhook
# (https://dev.wix.com/docs/rest/crm/forms/form-submissions/submission-created; eventType
# wix.forms.v4.submission_created, entityFqdn wix.forms.v4.submission, slug created,
# createdEvent.entity = submission object: id, formId, namespace, status, submissions {key: value},
# createdDate, updatedDate, revision, submitter, seen, contactId). Field keys and values are ours.
def submission_event() -> dict:
    return load("submission_created.json")


@pytest.fixture(scope="module")
def keys():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


def envelope(event: dict, event_type: str, identity: dict | None = None, **claims) -> dict:
    # The documented JWT payload (https://dev.wix.com/docs/rest/articles/get-started/webhook-structure):
    # {"data": "<JSON string of {eventType, instanceId, data: <JSON string>, identity: <JSON string>}>"}
    now = int(time.time())
    data = {
        "eventType": event_type,
        "instanceId": INSTANCE_ID,
        "data": json.dumps(event),
        "identity": json.dumps(identity or {"identityType": "ANONYMOUS_VISITOR",
                                            "anonymousVisitorId": "4e1c5f70-2a8b-4c1d-9e7f-6a5b4c3d2e1f"}),
    }
    payload = {"data": json.dumps(data), "iat": now, "exp": now + 3600}
    payload.update(claims)
    return payload


def sign(keys, payload: dict) -> bytes:
    return jwt.encode(payload, keys[0], algorithm="RS256").encode()


def webhook(keys, event: dict, event_type: str) -> WixEvent:
    return decode_wix_webhook(sign(keys, envelope(event, event_type)), keys[1])


# ---------------------------------------------------------------------------------------------
# decode_wix_webhook


def test_decodes_documented_nested_envelope(keys):
    event = webhook(keys, approved_event(), "wix.ecom.v1.order_approved")
    assert event.event_id == "162075ea-7271-411b-b555-de545e8e6f38"
    assert event.event_type == "wix.ecom.v1.order_approved"
    assert event.instance_id == INSTANCE_ID
    assert event.entity_fqdn == "wix.ecom.v1.order"
    assert event.slug == "approved"
    assert event.entity_id == "e994ac9d-26b0-4f81-8047-00a2e964d6bf"
    assert event.event_time == datetime(2024, 1, 28, 14, 16, 58, 654321, tzinfo=timezone.utc)
    assert event.body["order"]["number"] == "10002"
    assert event.identity["identityType"] == "ANONYMOUS_VISITOR"


def test_created_event_body_is_the_entity(keys):
    event = webhook(keys, submission_event(), "wix.forms.v4.submission_created")
    assert event.slug == "created"
    assert event.body["formId"] == "21bcb6c7-02b3-4ed1-b6db-7856094fac03"


def test_updated_event_body_is_current_entity(keys):
    updated = {"id": "ev-1", "entityFqdn": "wix.forms.v4.submission", "slug": "updated", "entityId": "s-1",
               "updatedEvent": {"currentEntity": {"id": "s-1", "status": "CONFIRMED"}},
               "eventTime": "2024-04-10T12:05:00Z"}
    event = webhook(keys, updated, "wix.forms.v4.submission_updated")
    assert event.body == {"id": "s-1", "status": "CONFIRMED"}
    assert order_from_wix(event) is None      # not an event type we turn into an order


def test_public_key_without_pem_armour_is_accepted(keys):
    bare = "".join(line for line in keys[1].splitlines() if "-----" not in line)
    event = decode_wix_webhook(sign(keys, envelope(canceled_event(), "wix.ecom.v1.order_canceled")), bare)
    assert event.event_id == "0c8d1f2e-6a0b-4f61-9d1f-8b7e5d3c2a19"


def test_body_with_surrounding_whitespace_is_accepted(keys):
    token = sign(keys, envelope(canceled_event(), "wix.ecom.v1.order_canceled"))
    assert decode_wix_webhook(b"\n" + token + b"\r\n", keys[1]).slug == "canceled"


def test_wrong_key_is_refused(keys):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_public = other.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    token = sign(keys, envelope(approved_event(), "wix.ecom.v1.order_approved"))
    with pytest.raises(WixError, match="signature does not verify"):
        decode_wix_webhook(token, other_public)


def test_tampered_token_is_refused(keys):
    token = sign(keys, envelope(approved_event(), "wix.ecom.v1.order_approved")).decode()
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data = json.loads(claims["data"])
    inner = json.loads(data["data"])
    inner["actionEvent"]["body"]["order"]["priceSummary"]["total"]["amount"] = "4897.00"
    data["data"] = json.dumps(inner)
    claims["data"] = json.dumps(data)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(WixError, match="signature does not verify"):
        decode_wix_webhook(f"{header}.{forged}.{signature}".encode(), keys[1])
    # a flipped signature byte too
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(WixError):
        decode_wix_webhook(f"{header}.{payload}.{flipped}".encode(), keys[1])


def hs256_with_public_key(payload: dict, public_pem: str) -> bytes:
    # The algorithm-confusion attack: an HMAC token whose secret is the (public) RSA key text.
    # PyJWT itself refuses to HMAC with a PEM key, so build the token by hand.
    import hashlib
    import hmac as hmac_mod

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(payload).encode())
    mac = hmac_mod.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return (signing_input + "." + b64(mac)).encode()


def test_hs256_signed_with_public_key_is_refused(keys):
    token = hs256_with_public_key(envelope(approved_event(), "wix.ecom.v1.order_approved"), keys[1])
    with pytest.raises(WixError, match="refused JWT algorithm 'HS256'"):
        decode_wix_webhook(token, keys[1])


def test_alg_none_is_refused(keys):
    token = jwt.encode(envelope(approved_event(), "wix.ecom.v1.order_approved"), None, algorithm="none")
    with pytest.raises(WixError, match="refused JWT algorithm 'none'"):
        decode_wix_webhook(token.encode(), keys[1])


def test_expired_token_is_refused(keys):
    old = int(time.time()) - 7200
    token = sign(keys, envelope(approved_event(), "wix.ecom.v1.order_approved", iat=old, exp=old + 600))
    with pytest.raises(WixError, match="expired"):
        decode_wix_webhook(token, keys[1])
    # a body kept at receipt and decoded later by a job: expiry off, signature still checked
    assert decode_wix_webhook(token, keys[1], verify_exp=False).event_id == "162075ea-7271-411b-b555-de545e8e6f38"
    tampered = token[:-3] + (b"AAA" if token[-3:] != b"AAA" else b"BBB")
    with pytest.raises(WixError):
        decode_wix_webhook(tampered, keys[1], verify_exp=False)


@pytest.mark.parametrize("body, reason", [
    (b"", "empty body"),
    (b"not-a-jwt", "not a JWT"),
    (b"a.b.c", "malformed JWT header"),
    ("caf\u00e9.x.y".encode(), "non-ASCII"),
])
def test_malformed_bodies_are_refused(keys, body, reason):
    with pytest.raises(WixError, match=reason):
        decode_wix_webhook(body, keys[1])


def test_malformed_json_strings_are_refused(keys):
    now = int(time.time())
    with pytest.raises(WixError, match="JWT payload has no 'data'"):
        decode_wix_webhook(sign(keys, {"iat": now, "exp": now + 60}), keys[1])
    with pytest.raises(WixError, match="JWT payload.data is not valid JSON"):
        decode_wix_webhook(sign(keys, {"data": "{not json", "iat": now, "exp": now + 60}), keys[1])
    outer = {"eventType": "wix.ecom.v1.order_approved", "instanceId": INSTANCE_ID, "data": "{\"id\": ", "identity": "{}"}
    with pytest.raises(WixError, match="JWT data.data is not valid JSON"):
        decode_wix_webhook(sign(keys, {"data": json.dumps(outer), "iat": now, "exp": now + 60}), keys[1])
    outer["data"] = json.dumps(["a list"])
    with pytest.raises(WixError, match="JSON but not an object"):
        decode_wix_webhook(sign(keys, {"data": json.dumps(outer), "iat": now, "exp": now + 60}), keys[1])


@pytest.mark.parametrize("mutate, reason", [
    (lambda e: e.pop("id"), "event has no id"),
    (lambda e: e.pop("eventTime"), "eventTime"),
    (lambda e: e.__setitem__("eventTime", "2024-01-28T14:16:58"), "no UTC offset"),
    (lambda e: e.pop("actionEvent"), "none of actionEvent"),
])
def test_missing_fields_are_refused(keys, mutate, reason):
    event = approved_event()
    mutate(event)
    with pytest.raises(WixError, match=reason):
        webhook(keys, event, "wix.ecom.v1.order_approved")


def test_missing_event_type_is_refused(keys):
    payload = envelope(approved_event(), "wix.ecom.v1.order_approved")
    data = json.loads(payload["data"])
    del data["eventType"]
    payload["data"] = json.dumps(data)
    with pytest.raises(WixError, match="no eventType"):
        decode_wix_webhook(sign(keys, payload), keys[1])


def test_unusable_public_key_is_reported(keys):
    token = sign(keys, envelope(approved_event(), "wix.ecom.v1.order_approved"))
    with pytest.raises(WixError, match="no Wix public key"):
        decode_wix_webhook(token, "")
    with pytest.raises(WixError, match="public key is not usable"):
        decode_wix_webhook(token, "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----")


# ---------------------------------------------------------------------------------------------
# order_from_wix


def test_order_approved(keys):
    order = order_from_wix(webhook(keys, approved_event(), "wix.ecom.v1.order_approved"))
    assert order.platform == "wix"
    assert order.order_id == "e994ac9d-26b0-4f81-8047-00a2e964d6bf"
    assert order.occurred_at == datetime(2024, 1, 28, 5, 32, 47, 346000, tzinfo=timezone.utc)
    assert order.total_cents == 4897
    assert order.currency == "USD"
    assert order.codes == ["WINTER10"]
    assert order.urls == []
    assert order.cancelled is False
    assert order.kind == "order"
    # the event (14:16:58.654321) is newer than updatedDate (14:16:58.520)
    assert order.version_at == datetime(2024, 1, 28, 14, 16, 58, 654321, tzinfo=timezone.utc)
    assert order.payload["number"] == "10002"


def test_payment_status_partially_refunded_subtracts_refunded(keys):
    order = order_from_wix(webhook(keys, payment_event(), "wix.ecom.v1.order_payment_status_updated"))
    assert order.order_id == "e994ac9d-26b0-4f81-8047-00a2e964d6bf"
    assert order.total_cents == 4897 - 510 == 4387
    assert order.codes == ["WINTER10"]
    assert order.version_at == datetime(2024, 2, 2, 9, 1, 12, 118000, tzinfo=timezone.utc)
    assert order.cancelled is False


def test_payment_status_fully_refunded_and_paid(keys):
    event = payment_event()
    event["actionEvent"]["body"]["order"]["paymentStatus"] = "FULLY_REFUNDED"
    assert order_from_wix(webhook(keys, event, "wix.ecom.v1.order_payment_status_updated")).total_cents == 0

    event["actionEvent"]["body"]["order"]["paymentStatus"] = "PAID"
    assert order_from_wix(webhook(keys, event, "wix.ecom.v1.order_payment_status_updated")).total_cents == 4897

    # partially refunded without a refunded figure: the total stays (nothing to subtract exactly)
    event["actionEvent"]["body"]["order"]["paymentStatus"] = "PARTIALLY_REFUNDED"
    del event["actionEvent"]["body"]["order"]["balanceSummary"]["refunded"]
    assert order_from_wix(webhook(keys, event, "wix.ecom.v1.order_payment_status_updated")).total_cents == 4897


def test_order_canceled(keys):
    order = order_from_wix(webhook(keys, canceled_event(), "wix.ecom.v1.order_canceled"))
    assert order.order_id == "2a1c7f3e-95b4-4c2e-a0d9-3f8e6b1d4c77"
    assert order.cancelled is True
    assert order.total_cents == 1250            # "12.5" -> 1250 exactly
    assert order.currency == "EUR"
    assert order.codes == []
    assert order.version_at == datetime(2024, 3, 5, 7, 45, 31, 302000, tzinfo=timezone.utc)


def test_status_canceled_marks_cancelled_on_any_order_event(keys):
    event = payment_event()
    event["actionEvent"]["body"]["order"]["status"] = "CANCELED"
    assert order_from_wix(webhook(keys, event, "wix.ecom.v1.order_payment_status_updated")).cancelled is True


def test_total_falls_back_to_total_price_and_amounts_are_exact(keys):
    event = approved_event()
    summary = event["actionEvent"]["body"]["order"]["priceSummary"]
    del summary["total"]
    summary["totalPrice"] = {"amount": "0.30", "formattedAmount": "$0.30"}
    assert order_from_wix(webhook(keys, event, "wix.ecom.v1.order_approved")).total_cents == 30
    del summary["totalPrice"]
    with pytest.raises(WixError, match="no priceSummary.total"):
        order_from_wix(webhook(keys, event, "wix.ecom.v1.order_approved"))


def test_submission_created_is_a_lead(keys):
    lead = order_from_wix(webhook(keys, submission_event(), "wix.forms.v4.submission_created"))
    assert lead.kind == "lead"
    assert lead.platform == "wix"
    assert lead.order_id == "3342df1b-6064-4dbe-83be-3aa196d78214"
    assert lead.total_cents == 0
    assert lead.currency is None
    assert lead.codes == ["SPRINGLEAD"]
    assert lead.urls == ["https://www.example-site.com/spring?utm_source=newsletter", "https://www.facebook.com/"]
    assert lead.occurred_at == datetime(2024, 4, 10, 12, 1, 2, 345000, tzinfo=timezone.utc)
    assert lead.version_at == datetime(2024, 4, 10, 12, 1, 2, 712000, tzinfo=timezone.utc)
    assert lead.cancelled is False


def test_submission_without_code_or_urls(keys):
    event = submission_event()
    event["createdEvent"]["entity"]["submissions"] = {"first_name_1a2b": "Ada", "email_3c4d": "ada@example.com",
                                                      "discount_amount": "", "page_count": 3}
    lead = order_from_wix(webhook(keys, event, "wix.forms.v4.submission_created"))
    assert lead.codes == [] and lead.urls == []


def test_other_event_types_give_none(keys):
    event = approved_event()
    assert order_from_wix(webhook(keys, event, "wix.ecom.v1.order_created")) is None
    deleted = {"id": "d89ac711-727f-4884-ab09-5ce4e334df02", "entityFqdn": "wix.forms.v4.submission",
               "slug": "deleted", "entityId": "3342df1b-6064-4dbe-83be-3aa196d78214",
               "deletedEvent": {"movedToTrash": True}, "eventTime": "2023-06-15T08:02:59.371918Z",
               "triggeredByAnonymizeRequest": False}
    decoded = webhook(keys, deleted, "wix.forms.v4.submission_deleted")
    assert decoded.body == {} and order_from_wix(decoded) is None


def test_order_event_without_order_id_is_refused(keys):
    event = approved_event()
    event["actionEvent"]["body"] = {"previousPaymentStatus": "PAID"}
    with pytest.raises(WixError, match="no order id"):
        order_from_wix(webhook(keys, event, "wix.ecom.v1.order_approved"))

