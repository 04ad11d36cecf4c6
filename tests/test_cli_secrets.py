"""Secrets never travel in argv: the CLI refuses them there and reads them from standard input (issue 15)."""
from __future__ import annotations

import json

from sqlalchemy import text

from hub.db import owner_engine as get_engine  # the operator inspects the tables, as the owner
from tests.test_migrations import hub


def stored_sources(url: str) -> dict:
    engine = get_engine(url)
    with engine.connect() as conn:
        found = {row.source: row.secret_encrypted for row in conn.execute(text("SELECT * FROM tenant_secrets"))}
    engine.dispose()
    return found


def test_set_secret_refuses_argv_and_reads_stdin(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert hub(url, "db", "upgrade").returncode == 0
    assert hub(url, "tenant", "create", "acme").returncode == 0

    refused = hub(url, "tenant", "set-secret", "acme", "shopify", "shpss_in_argv")
    assert refused.returncode == 2
    assert "reads the secret from standard input: echo" in refused.stderr
    assert "| python -m hub tenant set-secret acme shopify -" in refused.stderr
    assert "shpss_in_argv" not in refused.stderr and "shopify" not in stored_sources(url)

    piped = hub(url, "tenant", "set-secret", "acme", "shopify", "-", stdin="shpss_from_stdin\n")
    assert piped.returncode == 0, piped.stderr
    no_argument = hub(url, "tenant", "set-secret", "acme", "wix",
                      stdin="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert no_argument.returncode == 0, no_argument.stderr
    assert {"shopify", "wix"} <= set(stored_sources(url))


def test_connector_add_refuses_a_secret_field_in_argv(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert hub(url, "db", "upgrade").returncode == 0
    assert hub(url, "tenant", "create", "acme").returncode == 0

    refused = hub(url, "connector", "add", "transistor", "--tenant", "acme", "--set", "show_id=54321",
                  "--set", "api_key=tr_secret_in_argv")
    assert refused.returncode == 2 and "--set api_key=-" in refused.stderr
    assert "tr_secret_in_argv" not in refused.stderr and "connector:transistor" not in stored_sources(url)

    added = hub(url, "connector", "add", "transistor", "--tenant", "acme", "--set", "show_id=54321",
                "--set", "api_key=-", stdin="tr_secret_from_stdin\n")
    assert added.returncode == 0, added.stderr
    shown = json.loads(added.stdout)
    assert shown["config"] == {"show_id": "54321"}  # the key is kept apart, encrypted
    encrypted = stored_sources(url)["connector:transistor"]
    assert encrypted and "tr_secret_from_stdin" not in encrypted
