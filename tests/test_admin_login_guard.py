"""The admin sign-in against a real gunicorn process on Redis: throttled per client and overall (429
with Retry-After), and server-side sessions that logout and token rotation revoke (issue 15)."""
from __future__ import annotations

import re

import requests

from hub import create_app
from hub.migrate import upgrade
from tests.live_server import gunicorn

ADMIN_TOKEN = "test-admin-token-0123456789"  # tests/conftest.py


def csrf(http: requests.Session, base: str) -> str:
    page = http.get(f"{base}/admin/login", timeout=10, allow_redirects=False).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(http: requests.Session, base: str, token: str) -> requests.Response:
    return http.post(f"{base}/admin/login", data={"csrf_token": csrf(http, base), "token": token},
                     timeout=10, allow_redirects=False)


def test_wrong_tokens_are_throttled_and_the_right_one_then_waits_too(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    upgrade(url)
    with gunicorn(url, HUB_REDIS_URL=redis_url) as (base, _):
        http = requests.Session()
        answers = [login(http, base, f"wrong-{n}") for n in range(12)]
        assert [a.status_code for a in answers[:10]] == [401] * 10
        assert answers[10].status_code == 429 and int(answers[10].headers["Retry-After"]) > 0
        right = login(http, base, ADMIN_TOKEN)
        assert right.status_code == 429, "the right token must not get in during the lockout"
        assert http.get(f"{base}/admin", timeout=10, allow_redirects=False).status_code == 302
    # The counts were kept in Redis, shared by every web process.
    from redis import Redis

    assert any(b"hub-limits" in key for key in Redis.from_url(redis_url).keys("*"))


def test_logout_and_token_rotation_revoke_a_captured_cookie(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    upgrade(url)
    with gunicorn(url, HUB_REDIS_URL=redis_url) as (base, _):
        admin = requests.Session()
        assert login(admin, base, ADMIN_TOKEN).status_code == 302
        captured = admin.cookies.get("session")
        assert admin.get(f"{base}/admin", timeout=10, allow_redirects=False).status_code == 200
        page = admin.get(f"{base}/admin", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert admin.post(f"{base}/admin/logout", data={"csrf_token": token}, timeout=10,
                          allow_redirects=False).status_code == 302

        thief = requests.Session()
        thief.cookies.set("session", captured)
        assert thief.get(f"{base}/admin", timeout=10, allow_redirects=False).status_code == 302

        again = requests.Session()
        assert login(again, base, ADMIN_TOKEN).status_code == 302
        kept = again.cookies.get("session")
    # The admin token is rotated: the hub restarts with a new one, and the old session is over.
    with gunicorn(url, HUB_REDIS_URL=redis_url, HUB_ADMIN_TOKEN="a-brand-new-admin-token-42") as (base, _):
        old = requests.Session()
        old.cookies.set("session", kept)
        assert old.get(f"{base}/admin", timeout=10, allow_redirects=False).status_code == 302


def test_many_clients_together_are_throttled_overall(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    upgrade(url)
    client = create_app({"database_url": url, "redis_url": None}).test_client()
    codes = []
    for n in range(62):
        address = f"203.0.113.{n + 1}"  # a different client each time: the per-client limit never trips
        page = client.get("/admin/login", environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        codes.append(client.post("/admin/login", data={"csrf_token": token, "token": "wrong"},
                                 environ_base={"REMOTE_ADDR": address}).status_code)
    assert codes[:60] == [401] * 60 and codes[60:] == [429, 429]
