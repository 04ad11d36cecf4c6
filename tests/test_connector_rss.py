"""The RSS connector (connectors/rss.py): podcast feeds written to the RSS 2.0, iTunes and Podcasting 2.0
specifications (tests/fixtures/rss/, each citing its spec) land in `podcasts` and `episodes` through the
pipeline; conditional GET, bad feeds, size and page bounds, the SSRF guard, RQ and its cron."""
from __future__ import annotations

import gzip
import re
import threading
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import responses
from redis import Redis
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from connectors.base import ConnectorError
from connectors.rss import RssConnector, podcast_guid_for
from hub.config import load_settings
from hub.db import across_tenants, for_tenant, make_session_factory
from hub.ingest.values import BadValue, parse_duration
from hub.jobs import connectors as connector_jobs
from hub.jobs.connectors import SYNC_JOB, SyncError, build, configure, run_sync
from hub.models import ConnectorState, Episode, EtlImport, EtlRowError, Podcast
from hub.tenants import tenant_by_slug
from tests.conftest import SECRET_KEY
from tests.test_status_page import login, text_of

FIXTURES = Path(__file__).parent / "fixtures" / "rss"
FEED_URL = "https://feeds.techtalk.example.com/techtalk.xml"
TECHTALK = (FIXTURES / "techtalk.xml").read_bytes()
# The validators a server sends with a feed (RFC 9110 sections 8.8.2 and 8.8.3) and expects back.
VALIDATORS = {"ETag": '"techtalk-v1"', "Last-Modified": "Sat, 01 Feb 2025 08:00:00 GMT"}
GUID_7 = "3f1c9b2e-7a7d-4c55-9d7e-2b1f0c8e0007"


def all_rows(url: str, model) -> list:
    """What is stored, read across tenants as an inspector (RLS would hide it from an unscoped session)."""
    session = across_tenants(make_session_factory(url)())
    try:
        return session.query(model).all()
    finally:
        session.close()


def settings_for(url: str, env: str = "test"):
    """The hub's settings; in production (and only there) tenant-chosen URLs may not be on loopback."""
    return load_settings({"HUB_ENV": env, "HUB_SECRET_KEY": SECRET_KEY, "HUB_DATABASE_URL": url,
                          "HUB_ADMIN_TOKEN": "test-admin-token-0123456789"})


def add_rss(url: str, tenant_id: int, every: int | None = None, allow_loopback: bool = False, **values):
    session = for_tenant(make_session_factory(url)(), tenant_id)  # as `connector add` does
    try:
        tenant = tenant_by_slug(session, "acme")
        state = configure(session, tenant, "rss", {"feed_url": FEED_URL, **values}, every, SECRET_KEY,
                          allow_loopback=allow_loopback)
        session.commit()
        return dict(state.config)
    finally:
        session.close()


def rss_client(url: str, **overrides) -> RssConnector:
    """The connector as the hub builds it (the guarded session), with retries that do not wait."""
    session = make_session_factory(url)()
    try:
        state = across_tenants(session).query(ConnectorState).filter_by(connector="rss").one()  # the test's only one
        built = build(session, state, SECRET_KEY)
    finally:
        session.close()
    return RssConnector({**built.config, **overrides}, session=built.session, sleep=lambda seconds: None,
                        max_retries=2)


def by_id(url: str) -> dict[str, Episode]:
    return {e.episode_id: e for e in all_rows(url, Episode)}


# -- the feed lands in podcasts and episodes ------------------------------------------------------


def test_a_feed_lands_in_podcasts_and_episodes_with_dates_durations_and_numbers(database_url, tenant):
    add_rss(database_url, tenant["id"])
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=TECHTALK, headers=VALIDATORS, content_type="application/rss+xml")
        result = run_sync(settings_for(database_url), tenant["id"], "rss", connector=rss_client(database_url))
    assert result["pages"] == 2 and result["rows"] == 5  # the channel, then its four items in one page

    (podcast,) = all_rows(database_url, Podcast)
    guid = podcast_guid_for(FEED_URL)  # the fixture's <podcast:guid> is the one the spec derives
    assert (podcast.podcast_id, podcast.podcast_guid, podcast.title, podcast.author, podcast.category,
            podcast.language, podcast.image_url, podcast.itunes_type, podcast.feed_url) == (
        guid, guid, "Tech Talk Weekly", "Tech Talk Media", "Technology", "en-us",
        "https://cdn.techtalk.example.com/cover-3000.jpg", "episodic", FEED_URL)
    assert podcast.tenant_id == tenant["id"] and podcast.import_id

    episodes = by_id(database_url)
    assert len(episodes) == 4 and {e.podcast_id for e in episodes.values()} == {guid}
    seven = episodes[GUID_7]
    # pubDate "Tue, 14 Jan 2025 10:00:00 -0500" is 15:00 UTC; itunes:duration "1:02:03" (HH:MM:SS).
    assert seven.published_at == datetime(2025, 1, 14, 15, 0, tzinfo=timezone.utc)
    assert seven.published_on == date(2025, 1, 14)
    assert (seven.duration_seconds, seven.episode_number, seven.season_number, seven.episode_type) == (3723, 7, 2, "full")
    assert seven.title == "Episode 7: Chips and Supply Chains" and seven.guid == GUID_7
    assert seven.audio_url == "https://cdn.techtalk.example.com/ep007.mp3"
    assert seven.transcript_url == "https://cdn.techtalk.example.com/ep007.vtt"
    assert seven.chapters_url == "https://cdn.techtalk.example.com/ep007-chapters.json"
    # itunes:duration in its other forms: MM:SS, M:SS and plain seconds.
    assert episodes["3f1c9b2e-7a7d-4c55-9d7e-2b1f0c8e0006"].duration_seconds == 45 * 60 + 30
    trailer = episodes["3f1c9b2e-7a7d-4c55-9d7e-2b1f0c8e0000"]
    assert (trailer.duration_seconds, trailer.episode_number, trailer.episode_type) == (59, None, "trailer")
    # "Wed, 01 Jan 2025 00:15:00 +0100" is still 2024 in UTC.
    assert trailer.published_on == date(2024, 12, 31)
    bonus = episodes["techtalk-bonus-2025-02"]
    assert (bonus.duration_seconds, bonus.episode_type, bonus.published_on) == (754, "bonus", date(2025, 2, 2))

    imports = sorted((i.table_name, i.source, i.status) for i in all_rows(database_url, EtlImport))
    assert imports == [("episodes", "rss", "completed"), ("podcasts", "rss", "completed")]
    (state,) = all_rows(database_url, ConnectorState)
    assert state.status == "idle" and state.last_sync_at is not None and state.last_error is None
    assert state.cursor == {"feed_url": FEED_URL, "podcast_id": guid, "episodes": 4,
                            "etag": VALIDATORS["ETag"], "last_modified": VALIDATORS["Last-Modified"]}


def test_the_second_run_sends_the_validators_and_a_304_imports_nothing(database_url, tenant):
    add_rss(database_url, tenant["id"])
    client = rss_client(database_url)
    settings = settings_for(database_url)
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=TECHTALK, headers=VALIDATORS)
        run_sync(settings, tenant["id"], "rss", connector=client)
        assert "If-None-Match" not in wire.calls[0].request.headers
    first_sync = all_rows(database_url, ConnectorState)[0].last_sync_at
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, status=304, headers=VALIDATORS)
        result = run_sync(settings, tenant["id"], "rss", connector=client)
        sent = wire.calls[0].request.headers
    assert sent["If-None-Match"] == VALIDATORS["ETag"] and sent["If-Modified-Since"] == VALIDATORS["Last-Modified"]
    assert result["rows"] == 0 and result["pages"] == 1
    assert len(all_rows(database_url, EtlImport)) == 2, "a 304 makes no import"
    (state,) = all_rows(database_url, ConnectorState)
    # A successful run: the schedule counts from it, and the validators are kept for the next one.
    assert state.status == "idle" and state.last_sync_at > first_sync and state.cursor["etag"] == VALIDATORS["ETag"]


def test_a_rerun_of_the_same_feed_changes_nothing(database_url, tenant):
    add_rss(database_url, tenant["id"])
    client = rss_client(database_url)
    settings = settings_for(database_url)
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=TECHTALK)  # a server without validators: always 200
        wire.add(responses.GET, FEED_URL, body=TECHTALK)
        run_sync(settings, tenant["id"], "rss", connector=client)
        first_imports = {i.id for i in all_rows(database_url, EtlImport)}
        before = {e.episode_id: (e.last_updated, e.import_id) for e in all_rows(database_url, Episode)}
        podcast_before = [(p.last_updated, p.import_id) for p in all_rows(database_url, Podcast)]
        run_sync(settings, tenant["id"], "rss", connector=client)
    after = {e.episode_id: (e.last_updated, e.import_id) for e in all_rows(database_url, Episode)}
    assert after == before and len(after) == 4, "no episode was rewritten"
    assert [(p.last_updated, p.import_id) for p in all_rows(database_url, Podcast)] == podcast_before
    counts = {i.table_name: (i.rows_total, i.rows_inserted, i.rows_updated, i.rows_unchanged)
              for i in all_rows(database_url, EtlImport) if i.id not in first_imports}
    assert counts == {"episodes": (4, 0, 0, 4), "podcasts": (1, 0, 0, 1)}


def test_an_edited_episode_is_updated_and_a_bad_duration_is_that_rows_error(database_url, tenant):
    add_rss(database_url, tenant["id"])
    client = rss_client(database_url)
    edited = (TECHTALK.replace(b"Episode 6: Open Source Funding", b"Episode 6: Open Source Funding (re-edit)")
              .replace(b"<itunes:duration>754</itunes:duration>", b"<itunes:duration>about an hour</itunes:duration>"))
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=TECHTALK)
        wire.add(responses.GET, FEED_URL, body=edited)
        run_sync(settings_for(database_url), tenant["id"], "rss", connector=client)
        run_sync(settings_for(database_url), tenant["id"], "rss", connector=client)
    episodes = by_id(database_url)
    assert episodes["3f1c9b2e-7a7d-4c55-9d7e-2b1f0c8e0006"].title == "Episode 6: Open Source Funding (re-edit)"
    assert episodes["techtalk-bonus-2025-02"].duration_seconds == 754, "a refused row leaves the stored one as it was"
    (error,) = all_rows(database_url, EtlRowError)
    assert error.column == "duration" and "about an hour" in error.message and "HH:MM:SS" in error.message


@pytest.mark.parametrize("raw, seconds", [
    ("3723", 3723), ("3723.6", 3724), (3600, 3600), ("62:03", 3723), ("0:59", 59), ("1:02:03", 3723),
    ("01:02:03", 3723), ("10:00:00", 36000),
])
def test_itunes_duration_is_read_in_each_of_its_forms(raw, seconds):
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["1:75:00", "1:02:75", "about an hour", "1:2:3:4", "-5", "1.5:00", "", float("nan"), True])
def test_a_duration_in_no_form_is_refused_naming_the_forms(raw):
    with pytest.raises(BadValue, match=r"expected a duration like 3723 \(seconds\), 62:03 \(MM:SS\) or 1:02:03"):
        parse_duration(raw)


# -- bad feeds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture, message", [
    ("malformed.xml", r"is not well-formed XML at line \d+, column \d+: mismatched tag"),
    ("not_rss.xml", r"is not an RSS feed \(no <rss><channel>\): found XML that is no feed"),
])
def test_a_bad_feed_fails_the_sync_saying_what_is_wrong(database_url, tenant, fixture, message):
    add_rss(database_url, tenant["id"])
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=(FIXTURES / fixture).read_bytes())
        with pytest.raises(SyncError, match=message) as raised:
            run_sync(settings_for(database_url), tenant["id"], "rss", connector=rss_client(database_url))
    assert not raised.value.retriable, "the same bytes fail the same way: RQ must not retry"
    (state,) = all_rows(database_url, ConnectorState)
    assert state.status == "failed" and FEED_URL in state.last_error
    assert not all_rows(database_url, EtlImport) and not all_rows(database_url, Episode)


def test_an_rss_element_without_a_channel_and_an_empty_body_are_refused():
    client = RssConnector({"feed_url": FEED_URL})
    with pytest.raises(ConnectorError, match=r"its <rss> has no <channel>"):
        client.parse(b'<?xml version="1.0"?><rss version="2.0"></rss>')
    with pytest.raises(ConnectorError, match="empty body, not an RSS feed"):
        client.parse(b"  \n")


def test_an_entity_expansion_bomb_is_refused_not_expanded():
    # "Billion laughs": nine levels of ten references each would make 10**9 copies of "lol". Expat
    # (2.4 and later) stops it by its amplification limit; the feed is refused as not well-formed.
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{level} "{("&lol%d;" % (level - 1)) * 10}">' for level in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel><title>&lol9;</title>'
            '<link>https://bomb.example</link><description>d</description></channel></rss>').encode()
    with pytest.raises(ConnectorError, match="is not well-formed XML .*amplification"):
        RssConnector({"feed_url": FEED_URL}).parse(bomb)


def test_an_http_500_is_retried_then_fails_the_sync_as_retriable(database_url, tenant):
    add_rss(database_url, tenant["id"])
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, status=500, body="upstream exploded")
        with pytest.raises(SyncError, match=r"failed after 2 retries: HTTP 500: upstream exploded") as raised:
            run_sync(settings_for(database_url), tenant["id"], "rss", connector=rss_client(database_url))
        assert len(wire.calls) == 3  # the first try and two retries
    assert raised.value.retriable
    (state,) = all_rows(database_url, ConnectorState)
    assert state.status == "failed" and "HTTP 500" in state.last_error


def test_a_404_fails_at_once():
    client = RssConnector({"feed_url": FEED_URL}, sleep=lambda seconds: None)
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, status=404, body="<html>Not Found</html>")
        with pytest.raises(ConnectorError, match="HTTP 404") as raised:
            list(client.sync({}))
        assert len(wire.calls) == 1
    assert not raised.value.retriable and raised.value.status == 404


# -- size and pages -----------------------------------------------------------------------------


def big_feed(items: int) -> bytes:
    """An RSS 2.0 feed of `items` minimal episodes (title, guid, pubDate, itunes:duration in seconds)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>'
             '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>'
             '<title>Daily Minute</title><link>https://daily.example.com</link><description>d</description>']
    for n in range(items):
        parts.append(f"<item><title>Day {n}</title><guid isPermaLink=\"false\">day-{n:05d}</guid>"
                     f"<pubDate>Mon, 06 Jan 2025 06:00:00 GMT</pubDate><itunes:duration>{60 + n % 60}</itunes:duration></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def test_thousands_of_items_go_out_in_bounded_pages_and_land(database_url, tenant):
    add_rss(database_url, tenant["id"], page_size=1000)
    client = rss_client(database_url)
    feed = big_feed(2500)
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=feed, headers=VALIDATORS)
        pages = list(client.sync({}))
    assert [(p.table, len(p.rows)) for p in pages] == [("podcasts", 1), ("episodes", 1000), ("episodes", 1000),
                                                       ("episodes", 500)]
    # Only the last page carries the validators: a sync stopped midway fetches the whole feed again.
    assert [("etag" in p.cursor) for p in pages] == [False, False, False, True]
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=feed, headers=VALIDATORS)
        result = run_sync(settings_for(database_url), tenant["id"], "rss", connector=client)
    assert result["pages"] == 4 and len(all_rows(database_url, Episode)) == 2500
    assert {i.rows_total for i in all_rows(database_url, EtlImport) if i.table_name == "episodes"} == {1000, 500}


def test_a_feed_over_max_feed_bytes_is_refused_by_its_length_or_while_it_streams(database_url, tenant):
    add_rss(database_url, tenant["id"], max_feed_bytes=50_000)
    client = rss_client(database_url)
    feed = big_feed(1000)  # about 150 kB
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=feed, headers={"Content-Length": str(len(feed))})
        with pytest.raises(SyncError, match=r"larger than max_feed_bytes \(50000 bytes\).*Content-Length"):
            run_sync(settings_for(database_url), tenant["id"], "rss", connector=client)
    # Compressed it is small, so only counting the bytes as they are decompressed catches it.
    packed = gzip.compress(feed)
    assert len(packed) < 50_000
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=packed, headers={"Content-Encoding": "gzip"})
        with pytest.raises(SyncError, match=r"larger than max_feed_bytes \(50000 bytes\); if it really is that large"):
            run_sync(settings_for(database_url), tenant["id"], "rss", connector=client)
    assert not all_rows(database_url, Episode)


# -- ids --------------------------------------------------------------------------------------


def test_podcast_id_defaults_to_the_guid_the_spec_derives_and_items_without_guid_use_the_enclosure():
    # The Podcasting 2.0 namespace's own example: the feed at https://mp3s.nashownotes.com/pc20rss.xml has
    # <podcast:guid>917393e3-1b1e-5cef-ace4-edaa54e1f810</podcast:guid> (docs/1.0.md#guid).
    assert podcast_guid_for("https://mp3s.nashownotes.com/pc20rss.xml/") == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    url = "https://garden.example.org/feed.xml"
    client = RssConnector({"feed_url": url})
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, url, body=(FIXTURES / "minimal.xml").read_bytes())
        podcast, episodes = list(client.sync({}))
    assert podcast.rows[0]["podcast_id"] == podcast_guid_for(url) and podcast.rows[0]["podcast_guid"] is None
    (episode,) = episodes.rows
    assert episode["episode_id"] == episode["guid"] == "https://garden.example.org/audio/pruning-roses.mp3"
    assert episode["duration"] is None and episode["published_on"] == "2025-03-03"


def test_a_tenants_own_episode_ids_come_from_the_template(database_url, tenant):
    # The tenant's sheets call episode 7 "007" (as in the README's examples): {episode:03d}.
    add_rss(database_url, tenant["id"], podcast_id="techtalk", episode_id_template="{episode:03d}")
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=TECHTALK)
        run_sync(settings_for(database_url), tenant["id"], "rss", connector=rss_client(database_url))
    episodes = by_id(database_url)
    assert set(episodes) == {"007", "006"}
    assert episodes["007"].guid == GUID_7 and episodes["007"].podcast_id == "techtalk"
    # The trailer and the bonus have no itunes:episode: no id, so each is its row's error, not a guess.
    errors = all_rows(database_url, EtlRowError)
    assert len(errors) == 2 and {e.column for e in errors} == {"episode_id"}
    assert {e.raw["guid"] for e in errors} == {"techtalk-bonus-2025-02", "3f1c9b2e-7a7d-4c55-9d7e-2b1f0c8e0000"}


@pytest.mark.parametrize("template, message", [
    ("{guid.__class__}", "expected fields among"),
    ("{title}", "expected fields among"),
    ("{episode!r}", "expected fields among"),
    ("episode", "uses no field"),
    ("{episode", "is not a template"),
])
def test_an_unsafe_or_useless_template_is_refused_when_stored(database_url, tenant, template, message):
    with pytest.raises(ConnectorError, match=message):
        add_rss(database_url, tenant["id"], episode_id_template=template)


# -- SSRF -------------------------------------------------------------------------------------


class FeedServer:
    """A real HTTP server on 127.0.0.1 serving one feed (chunked, no Content-Length), counting requests."""

    def __init__(self, body: bytes):
        requests_seen = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's name)
                requests_seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                for start in range(0, len(body), 8192):
                    chunk = body[start:start + 8192]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/feed.xml"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server():
    server = FeedServer(TECHTALK)
    yield server
    server.close()


@pytest.mark.parametrize("url, reason", [
    ("https://127.0.0.1:8080/feed.xml", "127.0.0.1, a private, loopback, link-local or reserved address"),
    ("http://127.0.0.1:8080/feed.xml", "expected https://, found http:// (http is only for loopback in development)"),
    ("https://10.1.2.3/feed.xml", "10.1.2.3, a private, loopback, link-local or reserved address"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254, a private"),
    ("https://[::ffff:192.168.0.1]/feed.xml", "a private, loopback"),
    ("http://feeds.example.com/feed.xml", "expected https://, found http://"),
    ("https://user:pw@feeds.example.com/feed.xml", "credentials in the URL are not accepted"),
])
def test_a_feed_url_on_a_private_address_is_refused_when_stored(database_url, tenant, url, reason):
    with pytest.raises(ConnectorError, match=r"^feed_url: .*" + re.escape(reason)):
        add_rss(database_url, tenant["id"], feed_url=url)
    assert not all_rows(database_url, ConnectorState) or all_rows(database_url, ConnectorState)[0].config is None


def test_the_guarded_session_refuses_loopback_at_connect_time_and_nothing_reaches_the_server(
        database_url, tenant, feed_server):
    # A name that resolves to loopback is not caught when stored (names are not resolved then); the
    # session the hub hands the connector refuses the connection itself, on every sync.
    name_url = feed_server.url.replace("127.0.0.1", "localhost").replace("http://", "https://")
    add_rss(database_url, tenant["id"], feed_url=name_url)
    with pytest.raises(SyncError, match=r"feed_url .* refused: localhost resolves to (127\.0\.0\.1|::1), a private, "
                                        r"loopback, link-local or reserved address") as raised:
        run_sync(settings_for(database_url, env="production"), tenant["id"], "rss")
    assert not raised.value.retriable and feed_server.requests == []
    (state,) = all_rows(database_url, ConnectorState)
    assert state.status == "failed" and "refused" in state.last_error


def test_with_loopback_allowed_the_feed_is_read_from_a_real_server(database_url, tenant, feed_server):
    # Development and tests may allow loopback explicitly (as the REST-hook tests do): then the same
    # guarded session reads the feed, chunked and without a Content-Length, from a real server.
    add_rss(database_url, tenant["id"], feed_url=feed_server.url, allow_loopback=True)
    result = run_sync(settings_for(database_url, env="test"), tenant["id"], "rss")
    assert result["rows"] == 5 and feed_server.requests == ["/feed.xml"]
    assert GUID_7 in by_id(database_url)


# -- RQ, its cron, the API and the admin page -----------------------------------------------------


def test_a_sync_runs_through_a_real_rq_worker(database_url, redis_url, tenant, hub_env):
    hub_env(database_url, redis_url)
    add_rss(database_url, tenant["id"])
    connection = Redis.from_url(redis_url)
    assert SYNC_JOB.enqueue(load_settings(), tenant["id"], "rss") == "queued"
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=TECHTALK, headers=VALIDATORS)
        SimpleWorker([Queue("hub", connection=connection)], connection=connection).work(burst=True)
        assert len(wire.calls) == 1
    assert len(by_id(database_url)) == 4
    (state,) = all_rows(database_url, ConnectorState)
    assert state.status == "idle" and state.cursor["etag"] == VALIDATORS["ETag"]


def test_the_cron_schedule_syncs_a_feed_on_its_interval(database_url, redis_url, tenant, hub_env, monkeypatch):
    hub_env(database_url, redis_url)
    add_rss(database_url, tenant["id"], every=60)
    connection = Redis.from_url(redis_url)
    cron = CronScheduler(connection=connection)
    cron.load_config_from_file("hub.jobs.cron")  # the hub's own schedule, as `python -m hub scheduler` runs it
    assert "sync-due-connectors" in [job.name for job in cron.get_jobs()]
    worker = SimpleWorker([Queue("hub", connection=connection)], connection=connection)
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=TECHTALK, headers=VALIDATORS)
        cron.enqueue_jobs()
        worker.work(burst=True)
        assert len(wire.calls) == 1
    assert len(by_id(database_url)) == 4
    (state,) = all_rows(database_url, ConnectorState)
    synced = state.last_sync_at
    # Just synced: the next tick of the schedule leaves it alone until its 60 minutes have passed.
    with responses.RequestsMock() as wire:
        for job in cron.get_jobs():
            job.latest_enqueue_time = job.next_enqueue_time = None  # let every cron job tick again now
        cron.enqueue_jobs()
        worker.work(burst=True)
        assert len(wire.calls) == 0
    assert all_rows(database_url, ConnectorState)[0].last_sync_at == synced


def test_the_api_and_the_admin_page_show_last_next_sync_and_last_error(client, database_url, tenant):
    add_rss(database_url, tenant["id"], every=60)
    with responses.RequestsMock() as wire:
        wire.add(responses.GET, FEED_URL, body=TECHTALK)
        run_sync(settings_for(database_url), tenant["id"], "rss", connector=rss_client(database_url))
        wire.add(responses.GET, FEED_URL, body=(FIXTURES / "not_rss.xml").read_bytes())
        with pytest.raises(SyncError):
            run_sync(settings_for(database_url), tenant["id"], "rss", connector=rss_client(database_url))
    (state,) = all_rows(database_url, ConnectorState)
    listed = client.get("/api/v1/connectors", headers={"Authorization": f"Bearer {tenant['secrets']['api']}"}).get_json()
    (rss,) = listed["connectors"]
    assert rss["connector"] == "rss" and rss["status"] == "failed" and rss["every_minutes"] == 60
    assert datetime.fromisoformat(rss["last_sync_at"]) == state.last_sync_at
    assert (datetime.fromisoformat(rss["next_sync_at"]) - state.last_sync_at).total_seconds() == 3600
    assert "is not an RSS feed" in rss["last_error"] and rss["config"]["feed_url"] == FEED_URL
    login(client)
    page = " ".join(text_of(client.get("/admin")).split())
    row = page.split("Connectors", 1)[1].split("Platform webhooks received", 1)[0]
    assert "acme rss failed" in row and "is not an RSS feed" in row
    assert rss["next_sync_at"].replace("T", " ")[:19] in row
