"""Configuration: typed parsing, clear errors, flag aliases, production's required secrets."""
import pytest

from hub.config import ConfigError, load_settings

BASE = {"HUB_ENV": "test", "HUB_SECRET_KEY": "k" * 40}


def test_defaults_are_the_embedded_ones():
    settings = load_settings(BASE)
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("instance/hub.sqlite3")
    assert settings.jobs_inline and settings.flags.etl_csv_upload and not settings.flags.matchmaking


def test_postgres_urls_use_psycopg3():
    settings = load_settings(dict(BASE, HUB_DATABASE_URL="postgres://u@h:5432/db"))
    assert settings.database_url == "postgresql+psycopg://u@h:5432/db"


@pytest.mark.parametrize("env, message", [
    ({"ENABLE_IO_BOOKINGS": "maybe"}, "ENABLE_IO_BOOKINGS: expected one of true/false/1/0/yes/no/on/off, found 'maybe'"),
    ({"HUB_DATABASE_URL": "mysql://x"}, "HUB_DATABASE_URL: expected a postgresql:// or sqlite:/// URL, found 'mysql://x'"),
    ({"HUB_REDIS_URL": "localhost:6379"}, "HUB_REDIS_URL: expected a redis:// URL"),
    ({"HUB_IMPORT_BATCH_ROWS": "lots"}, "HUB_IMPORT_BATCH_ROWS: expected a whole number, found 'lots'"),
    ({"HUB_JOB_RETRY_INTERVALS": ","}, "HUB_JOB_RETRY_INTERVALS: expected comma-separated seconds"),
    ({"HUB_ENV": "staging"}, "HUB_ENV: expected development, production or test"),
])
def test_bad_values_are_named(env, message):
    with pytest.raises(ConfigError) as error:
        load_settings(dict(BASE, **env))
    assert message in str(error.value)


def test_matchmaking_alias_and_precedence():
    assert load_settings(dict(BASE, MATCHMAKING_ENABLED="yes")).flags.matchmaking is True
    assert load_settings(dict(BASE, MATCHMAKING_ENABLED="yes", ENABLE_MATCHMAKING="no")).flags.matchmaking is False


def test_production_requires_its_secrets():
    with pytest.raises(ConfigError, match="HUB_SECRET_KEY: required in production"):
        load_settings({"HUB_ENV": "production"})
    with pytest.raises(ConfigError, match="HUB_ADMIN_TOKEN: required in production"):
        load_settings({"HUB_ENV": "production", "HUB_SECRET_KEY": "k" * 40})
