"""The hub's tables, one module per part of the domain; import from here."""
from .base import Base, utcnow
from .bookings import ACTIVE_IO_STATUSES, IO_STATUSES, RUNNING_IO_STATUSES, IoBooking
from .catalog import DEAL_STAGES, AdUnit, Campaign, Episode, Podcast, Sponsor
from .events import ATTRIBUTION_MODELS, EVENT_NAMES, AttributionCredit, AttributionEvent, Event, Match
from .history import RowHistory
from .hooks import DELIVERY_STATUSES, HookDelivery, HookSubscription
from .imports import FINISHED_STATUSES, IMPORT_STATUSES, EtlImport, EtlImportChunk, EtlRowError
from .metrics import MetricsDaily
from .receipts import SOURCE_STATES, ConnectorState, SourceHealth, WebhookReceipt
from .sheet_rows import SheetRowDigest
from .sheet_values import SHEET_VALUE_ORIGINS, SheetValue
from .tenancy import AdminSession, Tenant, TenantQuota, TenantSecret, TenantSpreadsheet

__all__ = [
    "ACTIVE_IO_STATUSES", "RUNNING_IO_STATUSES", "AdUnit", "DELIVERY_STATUSES", "HookDelivery", "HookSubscription", "ATTRIBUTION_MODELS", "AttributionCredit", "AttributionEvent", "Base", "Campaign", "DEAL_STAGES", "EVENT_NAMES",
    "Episode", "EtlImport", "EtlImportChunk", "EtlRowError", "Event", "FINISHED_STATUSES", "IMPORT_STATUSES",
    "IO_STATUSES", "IoBooking", "Match", "MetricsDaily", "Podcast", "Sponsor", "Tenant", "TenantSecret", "TenantSpreadsheet", "utcnow",
    "ConnectorState", "WebhookReceipt", "SHEET_VALUE_ORIGINS", "SheetValue", "SheetRowDigest", "AdminSession", "TenantQuota",
    "SOURCE_STATES", "SourceHealth", "RowHistory",
]
