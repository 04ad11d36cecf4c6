"""A do-nothing Flask app: the baseline `webhook_ack.py` serves with the hub's own gunicorn settings.

It answers the sheets webhook's path with a 202 after reading the body, and nothing else: no
database, no Redis, no signature. Whatever the hub's ack costs above this is the hub's own work.
"""
from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify({"ok": True})


@app.post("/webhooks/sheets/<tenant_slug>")
def receive_push(tenant_slug: str):
    body = request.get_data()  # the same bytes the hub reads, so the baseline pays for receiving them too
    return jsonify({"tenant": tenant_slug, "bytes": len(body)}), 202
