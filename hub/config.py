"""The hub's configuration, read once from the environment with typed parsers.

Every setting and feature flag the hub knows is declared here, so there is one
place to look and one place that says what a bad value is.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting in the environment has a value the hub cannot use."""


def parse_bool(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}: expected one of true/false/1/0/yes/no/on/off, found {raw!r}")


def parse_int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, found {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: expected a number >= {minimum}, found {value}")
    return value


def parse_ratio(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a number like 0.9, found {raw!r}") from None
    if not 0 < value < 100:
        raise ConfigError(f"{name}: expected a number above 0, found {value}")
    return value


HOOK_RETRY_INTERVALS = (30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)


def parse_int_list(name: str, raw: str) -> tuple[int, ...]:
    parts = [p for p in raw.replace(" ", "").split(",") if p]
    if not parts:
        raise ConfigError(f"{name}: expected comma-separated seconds like '10,30,60', found {raw!r}")
    return tuple(parse_int(name, p) for p in parts)


def parse_existing_file(name: str, raw: str) -> str | None:
    path = raw.strip()
    if not path:
        return None
    if not Path(path).is_file():
        raise ConfigError(f"{name}: expected the path of an existing file, found {raw!r} (no such file)")
    return path


def parse_database_url(name: str, raw: str) -> str:
    url = raw.strip()
    # Plain "postgresql://" would pick psycopg2, which we do not ship.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if not (url.startswith("postgresql+psycopg://") or url.startswith("sqlite:")):
        raise ConfigError(f"{name}: expected a postgresql:// or sqlite:/// URL, found {raw!r}")
    return url


def parse_redis_url(name: str, raw: str) -> str | None:
    url = raw.strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name}: expected a redis:// URL (or unset for inline jobs), found {raw!r}")
    return url


@dataclass(frozen=True)
class FeatureFlags:
    """The seed's feature flags, in the one place they are read."""

    etl_csv_upload: bool = True
    io_bookings: bool = True
    deal_pipeline: bool = True
    new_dashboard_cards: bool = False
    matchmaking: bool = False


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = ""
    redis_url: str | None = None
    admin_token: str = ""
    secret_key: str = ""
    workbook_dir: str = ""
    google_service_account_file: str | None = None
    max_upload_bytes: int = 256 * 1024 * 1024
    max_webhook_bytes: int = 5 * 1024 * 1024
    import_batch_rows: int = 5000
    # How long a run holds its import without renewing (it renews every batch): past it, the run is
    # taken for dead (a killed worker) and the reconciler starts it again.
    import_lease_seconds: int = 30
    job_retries: int = 3
    job_retry_intervals: tuple[int, ...] = (10, 60, 300)
    # Waits (seconds) before each retry of a REST-hook delivery: 10 attempts over about 24 hours.
    hook_retry_intervals: tuple[int, ...] = HOOK_RETRY_INTERVALS
    queue_name: str = "hub"
    conversion_window_days: int = 30
    # Per-tenant quotas' defaults (hub/quotas.py); `python -m hub tenant set-quota` overrides them per tenant.
    quota_rows_per_day: int = 1_000_000
    quota_webhooks_per_minute: int = 600
    quota_uploads_per_minute: int = 60
    quota_api_per_minute: int = 600
    # Pacing states (hub/workflows/pacing.py): pace = delivered / expected to date, projected ratio =
    # projected at flight end / booked. over: pace >= over; at_risk: projected ratio < at_risk;
    # behind: pace < behind; else on_track.
    pacing_behind_ratio: float = 0.95
    pacing_at_risk_ratio: float = 0.90
    pacing_over_ratio: float = 1.20
    pacing_run_rate_days: int = 7
    # A source is stale once it has been quiet for this many times its expected cadence.
    stale_factor: float = 2.0
    # Two host sources' downloads for one episode and day are flagged when they differ by more than this
    # share of the larger (hub/workflows/discrepancies.py).
    reconcile_tolerance: float = 0.05
    # Days a row's history (hub/history.py) is kept.
    history_retention_days: int = 365
    flags: FeatureFlags = field(default_factory=FeatureFlags)

    @property
    def jobs_inline(self) -> bool:
        return self.redis_url is None

    def with_overrides(self, overrides: Mapping[str, object]) -> "Settings":
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **overrides)


def _flag(environ: Mapping[str, str], name: str, default: bool, alias: str | None = None) -> bool:
    if name in environ:
        return parse_bool(name, environ[name])
    if alias and alias in environ:
        return parse_bool(alias, environ[alias])
    return default


def load_flags(environ: Mapping[str, str]) -> FeatureFlags:
    return FeatureFlags(
        etl_csv_upload=_flag(environ, "ENABLE_ETL_CSV_UPLOAD", True),
        io_bookings=_flag(environ, "ENABLE_IO_BOOKINGS", True),
        deal_pipeline=_flag(environ, "ENABLE_DEAL_PIPELINE", True),
        new_dashboard_cards=_flag(environ, "ENABLE_NEW_DASHBOARD_CARDS", False),
        # The seed's code read ENABLE_MATCHMAKING, its spec said MATCHMAKING_ENABLED: both work.
        matchmaking=_flag(environ, "ENABLE_MATCHMAKING", False, alias="MATCHMAKING_ENABLED"),
    )


def _development_secret(name: str) -> str:
    """A per-checkout secret kept under instance/, so a laptop needs no setup (never used in production)."""
    path = INSTANCE_DIR / name
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    hub_env = env.get("HUB_ENV", "development").strip() or "development"
    if hub_env not in ("development", "production", "test"):
        raise ConfigError(f"HUB_ENV: expected development, production or test, found {hub_env!r}")
    if env.get("HUB_WORKBOOK_PATH"):
        # One shared workbook let every tenant's write-back land in the same file (issue 16).
        raise ConfigError("HUB_WORKBOOK_PATH: no longer read; set HUB_WORKBOOK_DIR to a folder instead, where "
                          "each spreadsheet is <spreadsheet id>.xlsx (the demo's is workbook-demo.xlsx)")

    database_url = parse_database_url(
        "HUB_DATABASE_URL",
        env.get("HUB_DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'hub.sqlite3'}",
    )
    secret_key = env.get("HUB_SECRET_KEY", "").strip()
    admin_token = env.get("HUB_ADMIN_TOKEN", "").strip()
    if hub_env == "production":
        # Fail at start, not at the first webhook, when a secret is missing.
        if len(secret_key) < 32:
            raise ConfigError("HUB_SECRET_KEY: required in production, at least 32 characters")
        if len(admin_token) < 16:
            raise ConfigError("HUB_ADMIN_TOKEN: required in production, at least 16 characters")
    if not secret_key:
        secret_key = _development_secret("secret_key")
    if not admin_token and hub_env == "development":
        admin_token = _development_secret("admin_token")

    intervals = env.get("HUB_JOB_RETRY_INTERVALS")
    return Settings(
        env=hub_env,
        database_url=database_url,
        redis_url=parse_redis_url("HUB_REDIS_URL", env.get("HUB_REDIS_URL", "")),
        admin_token=admin_token,
        secret_key=secret_key,
        workbook_dir=env.get("HUB_WORKBOOK_DIR", "").strip() or str(INSTANCE_DIR),
        google_service_account_file=parse_existing_file(
            "HUB_GOOGLE_SERVICE_ACCOUNT_FILE", env.get("HUB_GOOGLE_SERVICE_ACCOUNT_FILE", "")),
        max_upload_bytes=parse_int("HUB_MAX_UPLOAD_BYTES", env.get("HUB_MAX_UPLOAD_BYTES", str(256 * 1024 * 1024)), 1),
        max_webhook_bytes=parse_int("HUB_MAX_WEBHOOK_BYTES", env.get("HUB_MAX_WEBHOOK_BYTES", str(5 * 1024 * 1024)), 1),
        import_batch_rows=parse_int("HUB_IMPORT_BATCH_ROWS", env.get("HUB_IMPORT_BATCH_ROWS", "5000"), 1),
        import_lease_seconds=parse_int("HUB_IMPORT_LEASE_SECONDS", env.get("HUB_IMPORT_LEASE_SECONDS", "30"), 1),
        job_retries=parse_int("HUB_JOB_RETRIES", env.get("HUB_JOB_RETRIES", "3")),
        job_retry_intervals=parse_int_list("HUB_JOB_RETRY_INTERVALS", intervals) if intervals else (10, 60, 300),
        hook_retry_intervals=parse_int_list("HUB_HOOK_RETRY_INTERVALS", env["HUB_HOOK_RETRY_INTERVALS"])
        if env.get("HUB_HOOK_RETRY_INTERVALS") else HOOK_RETRY_INTERVALS,
        queue_name=env.get("HUB_QUEUE", "hub").strip() or "hub",
        conversion_window_days=parse_int(
            "HUB_CONVERSION_WINDOW_DAYS", env.get("HUB_CONVERSION_WINDOW_DAYS", "30")),
        quota_rows_per_day=parse_int("HUB_QUOTA_ROWS_PER_DAY", env.get("HUB_QUOTA_ROWS_PER_DAY", "1000000"), 1),
        quota_webhooks_per_minute=parse_int(
            "HUB_QUOTA_WEBHOOKS_PER_MINUTE", env.get("HUB_QUOTA_WEBHOOKS_PER_MINUTE", "600"), 1),
        quota_uploads_per_minute=parse_int(
            "HUB_QUOTA_UPLOADS_PER_MINUTE", env.get("HUB_QUOTA_UPLOADS_PER_MINUTE", "60"), 1),
        quota_api_per_minute=parse_int("HUB_QUOTA_API_PER_MINUTE", env.get("HUB_QUOTA_API_PER_MINUTE", "600"), 1),
        pacing_behind_ratio=parse_ratio("HUB_PACING_BEHIND_RATIO", env.get("HUB_PACING_BEHIND_RATIO", "0.95")),
        pacing_at_risk_ratio=parse_ratio("HUB_PACING_AT_RISK_RATIO", env.get("HUB_PACING_AT_RISK_RATIO", "0.90")),
        pacing_over_ratio=parse_ratio("HUB_PACING_OVER_RATIO", env.get("HUB_PACING_OVER_RATIO", "1.20")),
        pacing_run_rate_days=parse_int("HUB_PACING_RUN_RATE_DAYS", env.get("HUB_PACING_RUN_RATE_DAYS", "7"), 1),
        stale_factor=parse_ratio("HUB_STALE_FACTOR", env.get("HUB_STALE_FACTOR", "2")),
        reconcile_tolerance=parse_ratio("HUB_RECONCILE_TOLERANCE", env.get("HUB_RECONCILE_TOLERANCE", "0.05")),
        history_retention_days=parse_int("HUB_HISTORY_RETENTION_DAYS", env.get("HUB_HISTORY_RETENTION_DAYS", "365"), 1),
        flags=load_flags(env),
    )
