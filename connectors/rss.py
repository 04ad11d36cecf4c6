"""RSS: a podcast and its episodes, read from the podcast's public RSS feed with feedparser.

What a feed says, and where each field is specified:
- RSS 2.0 (https://www.rssboard.org/rss-specification): <channel> with <title>, <language>, <image>,
  and one <item> per episode with <title>, <guid>, <pubDate> (RFC 822 dates) and <enclosure url=...>.
- Apple's iTunes tags (https://podcasters.apple.com/support/823-podcast-requirements, namespace
  http://www.itunes.com/dtds/podcast-1.0.dtd): <itunes:author>, <itunes:image href>,
  <itunes:category text>, <itunes:type> (episodic/serial) on the channel; <itunes:duration> (seconds,
  MM:SS or HH:MM:SS), <itunes:episode>, <itunes:season>, <itunes:episodeType> (full/trailer/bonus) on
  an item.
- Podcasting 2.0 (https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md,
  namespace https://podcastindex.org/namespace/1.0): <podcast:guid> on the channel (a UUIDv5 of the
  feed URL when the feed has none), <podcast:transcript url type> and <podcast:chapters url type> on
  an item.

A sync yields one `podcasts` page (the channel) and then `episodes` pages of at most `page_size` items,
each an import through the hub's pipeline. Values are handed on as the feed writes them (the duration
as `1:02:03`, numbers as text): the tables' parsers read them and refuse a bad one as that episode's
row error, naming the episode's row and the column.

Episode ids: an episode's `episode_id` is its item's <guid> by default. A tenant whose sheets name
episodes otherwise sets `episode_id_template`, e.g. `{episode:03d}` (the <itunes:episode> number,
so 7 -> `007`) or `S{season}E{episode}`; the item's guid is kept in `episodes.guid` either way. An
item lacking a field the template uses gets no id and is refused as a row error.

Conditional GET: the cursor keeps the feed's ETag and Last-Modified; the next sync sends them
(If-None-Match / If-Modified-Since) and a 304 is a finished sync with nothing to import. They are
stored only with the last page, so a sync that stops midway fetches the whole feed again next time.

Bounded memory: the body is read in chunks and refused past `max_feed_bytes` (after decompression,
so a gzip bomb stops there too); episodes go out `page_size` at a time.

Network: the hub hands this connector a session that refuses private, loopback and link-local
addresses at connect time (hub/hooks/guarded_http.py); a refusal arrives here as a ValueError from
that guard and is reported as such. Redirects are followed through the same session, so every hop is
checked.
"""
from __future__ import annotations

import io
import string
import uuid
import xml.sax
from calendar import timegm
from datetime import date, datetime, timezone
from typing import Iterator

import feedparser
import requests
from urllib3.exceptions import MaxRetryError

from connectors.base import REQUEST_TIMEOUT_SECONDS, USER_AGENT, Connector, ConnectorError, Page
from connectors.http import RETRY_STATUSES

# Podcasting 2.0, <podcast:guid>: "a UUIDv5 ... generated from the RSS feed url, with the protocol
# scheme and trailing slashes stripped off, combined with a unique 'podcast' namespace which has a
# UUID of ead4c236-bf58-58c6-a2c6-a6b28d128cb6" (docs/1.0.md#guid).
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
TEMPLATE_FIELDS = ("guid", "episode", "season", "podcast_id")
CHUNK_BYTES = 64 * 1024
ERROR_BODY_BYTES = 2048
FEED_ACCEPT = "application/rss+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"


def podcast_guid_for(feed_url: str) -> str:
    """The Podcasting 2.0 guid a feed at `feed_url` has when it declares none."""
    bare = feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


def check_template(template: str) -> list[str]:
    """The fields an episode-id template uses; ConnectorError for anything but plain `{field}` or
    `{field:spec}` with a known field (no attribute or index access, no conversions)."""
    fields = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ConnectorError(f"rss: episode_id_template {template!r} is not a template: {error}") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS or conversion or (spec and "{" in spec):
            raise ConnectorError(f"rss: episode_id_template {template!r}: expected fields among "
                                 f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)} (a format such as "
                                 f"{{episode:03d}} is allowed), found {{{field}{'!' + conversion if conversion else ''}}}")
        fields.append(field)
    if not fields:
        raise ConnectorError(f"rss: episode_id_template {template!r} uses no field, so every episode would "
                             "get the same id; use {guid}, {episode}, {season} or {podcast_id}")
    return fields


class RssConnector(Connector):
    name = "rss"
    title = "RSS feed"
    config_schema = {
        "type": "object",
        "properties": {
            "feed_url": {"type": "string", "pattern": r"https?://[^\s]+",
                         "description": "the podcast's public RSS feed, https://..."},
            "podcast_id": {"type": "string", "pattern": r"[^\s](.{0,126}[^\s])?",
                           "description": "the hub's id for this podcast; default: the feed's podcast:guid"},
            "episode_id_template": {"type": "string", "default": "{guid}",
                                    "description": "how an episode's id is made: {guid}, {episode}, {season}, "
                                                   "{podcast_id}, e.g. {episode:03d}"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
            "max_feed_bytes": {"type": "integer", "minimum": 1024, "maximum": 200_000_000, "default": 20_000_000},
        },
        "required": ["feed_url"],
        "secret": [],
        "additionalProperties": False,
    }
    # The feed's URL is the tenant's choice: the hub checks it when stored and hands this connector a
    # session that checks every address it connects to (SSRF).
    outsider_url_fields = ("feed_url",)

    def __init__(self, config: dict, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.template_fields = check_template(self.config["episode_id_template"])

    @property
    def feed_url(self) -> str:
        return self.config["feed_url"]

    # -- the contract -----------------------------------------------------------------------------

    def test_connection(self) -> None:
        response = self.fetch({})
        self.parse(self.read_body(response))

    def sync(self, cursor: dict | None, since: date | None = None) -> Iterator[Page]:
        """`since` means nothing to a feed (it lists what it lists) and is ignored."""
        previous = cursor or {}
        response = self.fetch(previous)
        if response.status_code == 304:
            response.close()
            yield Page(rows=[], cursor=dict(previous), table="episodes")
            return
        parsed = self.parse(self.read_body(response))
        channel, entries = parsed.feed, parsed.entries
        podcast_id = self.config.get("podcast_id") or (channel.get("podcast_guid") or "").strip() \
            or podcast_guid_for(self.feed_url)
        done = {"feed_url": self.feed_url, "podcast_id": podcast_id, "episodes": len(entries),
                "etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}
        # Until the last page is applied the cursor carries no validators: a sync that stops midway
        # must not be answered 304 next time.
        partial = {"feed_url": self.feed_url, "podcast_id": podcast_id}
        size = self.config["page_size"]
        yield Page(rows=[self.podcast_row(channel, podcast_id)], cursor=partial if entries else done, table="podcasts")
        for start in range(0, len(entries), size):
            last = start + size >= len(entries)
            rows = [self.episode_row(entry, podcast_id) for entry in entries[start:start + size]]
            yield Page(rows=rows, cursor=done if last else partial, table="episodes")

    # -- fetching ---------------------------------------------------------------------------------

    def fetch(self, previous: dict) -> requests.Response:
        """GET the feed, conditionally when the cursor has validators for this same URL. Returns a
        200 (body not read yet) or a 304; raises ConnectorError otherwise."""
        headers = {"User-Agent": USER_AGENT, "Accept": FEED_ACCEPT}
        if previous.get("feed_url") == self.feed_url:
            if previous.get("etag"):
                headers["If-None-Match"] = previous["etag"]
            if previous.get("last_modified"):
                headers["If-Modified-Since"] = previous["last_modified"]
        self.before_request()
        try:
            response = self.session.get(self.feed_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS, stream=True)
        except (requests.ConnectionError, requests.Timeout) as exc:
            spent = bool(exc.args) and isinstance(exc.args[0], MaxRetryError)
            after = f" after {self.max_retries} retries" if spent else ""
            raise self.fail(f"GET {self.feed_url} failed{after}: {exc.__class__.__name__}", retriable=True) from None
        except requests.RequestException as exc:
            raise self.fail(f"GET {self.feed_url} failed: {exc.__class__.__name__}: {exc}") from None
        except ValueError as exc:
            # The hub's address guard (a private, loopback or link-local address, or http to a public one).
            raise self.fail(f"feed_url {self.feed_url} refused: {str(exc).replace('target_url: ', '')}") from None
        status = response.status_code
        if status == 304 or 200 <= status < 300:
            return response
        body = self.error_body(response)
        if status in RETRY_STATUSES:
            raise self.fail(f"GET {self.feed_url} failed after {self.max_retries} retries: HTTP {status}: {body}",
                            status=status, retriable=True)
        raise self.fail(f"GET {self.feed_url} failed: HTTP {status}: {body}", status=status, retriable=status >= 500)

    def error_body(self, response: requests.Response) -> str:
        """The start of an error answer's body (never the whole of it: it may be huge)."""
        try:
            head = response.raw.read(ERROR_BODY_BYTES, decode_content=True) or b""
        except Exception:  # an answer cut short says nothing more worth its own error
            head = b""
        finally:
            response.close()
        return head.decode("utf-8", "replace").strip()[:300] or (response.reason or "")

    def read_body(self, response: requests.Response) -> bytes:
        """The feed's bytes, refused past max_feed_bytes without reading further."""
        limit = self.config["max_feed_bytes"]
        declared = response.headers.get("Content-Length", "")
        too_large = (f"the feed is larger than max_feed_bytes ({limit} bytes); if it really is that large, "
                     f"raise it: python -m hub connector add rss ... --set max_feed_bytes=<bytes>")
        if declared.isdigit() and int(declared) > limit:  # compressed or not, the body is larger still
            response.close()
            raise self.fail(f"{too_large} (Content-Length {declared})")
        buffer = io.BytesIO()
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                buffer.write(chunk)
                if buffer.tell() > limit:
                    raise self.fail(too_large)
        except requests.RequestException as exc:
            raise self.fail(f"reading {self.feed_url} failed: {exc.__class__.__name__}", retriable=True) from None
        finally:
            response.close()
        return buffer.getvalue()

    # -- parsing ----------------------------------------------------------------------------------

    def parse(self, body: bytes) -> feedparser.FeedParserDict:
        """The feed parsed, or ConnectorError saying why it is not a podcast RSS feed."""
        if not body.strip():
            raise self.fail(f"{self.feed_url} answered an empty body, not an RSS feed")
        # A stream, so that feedparser never takes the bytes for a URL or a file name to open.
        parsed = feedparser.parse(io.BytesIO(body))
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if isinstance(problem, xml.sax.SAXException):
            where = ""
            if isinstance(problem, xml.sax.SAXParseException):
                where = f" at line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
            raise self.fail(f"{self.feed_url} is not well-formed XML{where}: {problem.getMessage()}")
        if isinstance(problem, feedparser.CharacterEncodingUnknown):
            raise self.fail(f"{self.feed_url}: the feed's character encoding is unknown: {problem}")
        version = parsed.get("version") or ""
        if not version.startswith("rss"):
            found = f"an {version} feed" if version else "XML that is no feed"
            raise self.fail(f"{self.feed_url} is not an RSS feed (no <rss><channel>): found {found}")
        if not parsed.feed and not parsed.entries:
            raise self.fail(f"{self.feed_url} is not an RSS feed: its <rss> has no <channel>")
        return parsed

    def podcast_row(self, channel: dict, podcast_id: str) -> dict:
        image = channel.get("image") or {}
        itunes_categories = [t.get("term") for t in channel.get("tags") or [] if "itunes" in (t.get("scheme") or "")]
        categories = itunes_categories or [t.get("term") for t in channel.get("tags") or []]
        itunes_type = channel.get("itunes_type")
        return {
            "podcast_id": podcast_id,
            "title": channel.get("title"),
            "category": next((c for c in categories if c), None),
            "feed_url": self.feed_url,
            "podcast_guid": (channel.get("podcast_guid") or "").strip() or None,
            "author": channel.get("author"),
            "language": channel.get("language"),
            "image_url": image.get("href") or image.get("url"),
            "itunes_type": itunes_type.strip().lower() if isinstance(itunes_type, str) else None,
        }

    def episode_row(self, entry: dict, podcast_id: str) -> dict:
        audio = next((link.get("href") for link in entry.get("links") or [] if link.get("rel") == "enclosure"), None)
        # RSS 2.0 makes <guid> optional; without one, the enclosure's URL (what Apple falls back on)
        # and then the item's link identify the episode.
        guid = (entry.get("id") or "").strip() or audio or entry.get("link")
        published_at = published_on = None
        if entry.get("published_parsed"):
            # feedparser gives pubDate as a UTC struct_time.
            moment = datetime.fromtimestamp(timegm(entry["published_parsed"]), timezone.utc)
            published_at, published_on = moment.isoformat(), moment.date().isoformat()
        elif entry.get("published"):
            published_at = entry["published"]  # unreadable: the pipeline refuses it as this row's error
        episode_type = entry.get("itunes_episodetype")
        return {
            "episode_id": self.episode_id(guid, entry.get("itunes_episode"), entry.get("itunes_season"), podcast_id),
            "podcast_id": podcast_id,
            "guid": guid,
            "title": entry.get("title"),
            "published_at": published_at,
            "published_on": published_on,
            "duration": entry.get("itunes_duration") or None,
            "episode_number": entry.get("itunes_episode") or None,
            "season_number": entry.get("itunes_season") or None,
            "episode_type": episode_type.strip().lower() if isinstance(episode_type, str) and episode_type.strip() else None,
            "audio_url": audio,
            "transcript_url": (entry.get("podcast_transcript") or {}).get("url"),
            "chapters_url": (entry.get("podcast_chapters") or {}).get("url"),
        }

    def episode_id(self, guid, episode, season, podcast_id: str) -> str | None:
        """The template filled in; None (a row error) when a field it uses is missing or not a number
        where the template formats it as one."""
        values = {"guid": guid, "episode": episode, "season": season, "podcast_id": podcast_id}
        for name in ("episode", "season"):
            text = (values[name] or "").strip() if isinstance(values[name], str) else values[name]
            values[name] = int(text) if isinstance(text, str) and text.isdigit() else text or None
        if any(values[name] in (None, "") for name in self.template_fields):
            return None
        try:
            return self.config["episode_id_template"].format(**values)
        except (ValueError, TypeError):
            return None
