"""The pull connectors by name: the podcast hosts (metrics_daily pages), Shopify (conversions
pages), RSS feeds (podcasts and episodes pages) and Google Sheets read with a service account (a page
per window of a tab); each Page names its table. (Anchor / Spotify for Podcasters has no API: its CSV
export goes through connectors.anchor.rows_from_anchor_csv instead.)"""
from __future__ import annotations

from connectors.base import Connector
from connectors.buzzsprout import BuzzsproutConnector
from connectors.google_sheets import GoogleSheetsConnector
from connectors.rss import RssConnector
from connectors.shopify import ShopifyConnector
from connectors.simplecast import SimplecastConnector
from connectors.transistor import TransistorConnector

CONNECTORS: dict[str, type[Connector]] = {
    cls.name: cls for cls in (BuzzsproutConnector, SimplecastConnector, TransistorConnector, ShopifyConnector,
                            RssConnector, GoogleSheetsConnector)
}


class UnknownConnector(LookupError):
    """No connector by that name; the message lists the known ones."""


def get_connector(name: str) -> type[Connector]:
    key = (name or "").strip().lower() if isinstance(name, str) else name
    try:
        return CONNECTORS[key]
    except (KeyError, TypeError):
        raise UnknownConnector(f"unknown connector {name!r}; known connectors: {', '.join(sorted(CONNECTORS))}") from None
