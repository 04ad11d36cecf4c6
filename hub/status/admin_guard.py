"""The admin sign-in's defences: login attempts throttled per client and overall (Flask-Limiter, on
Redis when HUB_REDIS_URL is set so every web process counts together, in memory otherwise), and
server-side sessions, so logging out ends a session even for a cookie copied before.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import Flask, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy import delete

from ..models import AdminSession, utcnow

LOGIN_LIMIT_PER_CLIENT = "10 per minute"
LOGIN_LIMIT_OVERALL = "60 per minute"   # a botnet of many addresses still gets few guesses in all
SESSION_ID = "hub_admin_sid"

# With Redis down the admin must still be able to sign in (the page is how an outage is seen):
# the limits then hold per process, in memory, until Redis answers again.
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, strategy="fixed-window",
                  in_memory_fallback_enabled=True)


def everyone() -> str:
    return "admin-login:all-clients"


def init_app(app: Flask) -> None:
    hub_settings = app.config["HUB_SETTINGS"]
    app.config["RATELIMIT_STORAGE_URI"] = hub_settings.redis_url or "memory://"
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "hub-limits")
    limiter.init_app(app)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(db, lifetime_seconds: int) -> None:
    """A new server-side session; its random id goes in the (signed) cookie, only its hash in the table."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    db.execute(delete(AdminSession).where(AdminSession.expires_at < now))  # sweep the expired ones
    db.add(AdminSession(id=_digest(session_id), created_at=now, expires_at=now + timedelta(seconds=lifetime_seconds)))
    db.commit()
    session[SESSION_ID] = session_id


def session_alive(db) -> bool:
    session_id = session.get(SESSION_ID)
    if not isinstance(session_id, str) or not session_id:
        return False
    row = db.get(AdminSession, _digest(session_id))
    return row is not None and row.expires_at > utcnow()


def end_session(db) -> None:
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str) and session_id:
        db.execute(delete(AdminSession).where(AdminSession.id == _digest(session_id)))
        db.commit()
