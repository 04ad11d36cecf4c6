"""Structured logs: one JSON object per line, with the import, tenant and RQ job they concern, secrets masked.

    configure_logging()                      # in create_app and in the worker command
    log.info("import done", extra={"import_id": imp.id, "tenant": "acme"})
    -> {"time": "2025-01-31T10:00:00.123Z", "level": "INFO", "logger": "hub.jobs.imports",
        "message": "import done", "import_id": "…", "tenant": "acme", "job_id": "import-…"}

Inside an RQ job, `job_id` is filled in from `rq.get_current_job()`. Before a line is written the
redaction filter masks what looks like a secret: Authorization header values, bearer tokens,
`sha256=` signatures, and the values of keys named like secret/token/password (in the message,
in `extra=` fields and in tracebacks).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import datetime, timezone
from typing import IO, Any

# Fields taken from `extra=` (i.e. record.__dict__) when present.
CONTEXT_FIELDS = ("import_id", "tenant", "tenant_id", "job_id", "source", "path", "remote_addr")
REDACTED = "[REDACTED]"
_SECRET_WORDS = r"(?:secret|token|password|passwd|api[_-]?key|authorization|signature|credentials?)"
_SECRET_KEY = re.compile(r"^[\w.-]*" + _SECRET_WORDS + r"[\w.-]*$", re.IGNORECASE)
# In free text, Authorization has its own pattern (it keeps the scheme); the other words name a value.
_TEXT_SECRET_WORDS = r"(?:secret|token|password|passwd|api[_-]?key|signature|credentials?)"

_PATTERNS: list[tuple[re.Pattern, str]] = [
    # Authorization / Proxy-Authorization header values, whatever the scheme.
    (re.compile(r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(bearer|basic|token|digest)\s+)?[^\s'\",;]+",
                re.IGNORECASE),
     lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + REDACTED),
    # A bearer token wherever it appears.
    (re.compile(r"\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), lambda m: m.group(1) + REDACTED),
    # Signatures: sha256=<hex> (X-Hub-Signature-256, Shopify's and others' HMACs).
    (re.compile(r"\b(sha(?:1|256|512)=)[A-Za-z0-9+/=_-]+", re.IGNORECASE), lambda m: m.group(1) + REDACTED),
    # key=value, key: value, "key": "value" where the key names a secret.
    (re.compile(r"""(["']?[\w.-]*""" + _TEXT_SECRET_WORDS + r"""[\w.-]*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}\])"'(]+)""",
                re.IGNORECASE),
     lambda m: m.group(0) if REDACTED[1:-1] in m.group(2) else
     m.group(1) + (m.group(2)[0] + REDACTED + m.group(2)[0] if m.group(2)[:1] in "\"'" else REDACTED)),
    # Passwords in URLs: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]*:)([^@\s/]+)(@)", re.IGNORECASE),
     lambda m: m.group(1) + REDACTED + m.group(3)),
]


# Terminal colour codes (werkzeug colours its request lines when it thinks it writes to a terminal):
# a JSON line carries the text only.
_ANSI_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def redact(text: str) -> str:
    """`text` with every secret-looking value replaced by [REDACTED]."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(key: str | None, value: Any, depth: int = 0) -> Any:
    """A field's value, masked whole when its key names a secret, else with secrets inside it masked."""
    if key is not None and _SECRET_KEY.match(str(key)) and value not in (None, ""):
        return REDACTED
    if depth > 5:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(None, v, depth + 1) for v in value)
    return value


class RedactionFilter(logging.Filter):
    """Masks secrets in the message (after %-formatting), in extra fields and in the traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        for key in list(record.__dict__):
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            record.__dict__[key] = redact_value(key, record.__dict__[key])
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RqJobFilter(logging.Filter):
    """Adds `job_id` (the current RQ job's id) to records logged while a job runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None):
            return True
        try:
            from rq import get_current_job

            job = get_current_job()
        except Exception:  # no RQ, or no job context
            job = None
        if job is not None:
            record.job_id = job.id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, context fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _ANSI_ESCAPES.sub("", record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


_STANDARD_ATTRS = set(logging.LogRecord("x", logging.INFO, __file__, 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName"}
_HANDLER_MARK = "_hub_json_handler"


def configure_logging(level: str | int | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's records, as JSON lines, to `stream` (stderr). Safe to call more than once.

    The level comes from `level`, else HUB_LOG_LEVEL, else INFO.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RqJobFilter())
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    chosen = level if level is not None else os.environ.get("HUB_LOG_LEVEL", "INFO")
    root.setLevel(chosen if isinstance(chosen, int) else str(chosen).upper())
    return handler
