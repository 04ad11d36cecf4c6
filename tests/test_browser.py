"""The admin page in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by Selenium
against the hub served for real on 127.0.0.1, on PostgreSQL and a real Redis with a real RQ worker.

Install the browser with `bash scripts/install_chromium.sh`. Without it this test is skipped, except
under CI=true, where it fails. Nothing is downloaded: the driver and browser paths are given, so
Selenium Manager has nothing to fetch. The page is saved to test-artifacts/admin-failed-job.png before
the retry and to test-artifacts/admin.png at the end (admin-failure.png when the test fails).
"""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
import requests
from redis import Redis
from rq.registry import FailedJobRegistry
from werkzeug.serving import make_server

from hub import create_app
from hub.jobs.kinds import IMPORT
from tests.conftest import IN_CI, make_tenant
from tests.helpers import load_import, work

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ADMIN_TOKEN = "test-admin-token-0123456789"
CSV = "day,episode_id,source,downloads\n2025-01-06,007,buzzsprout,10\n2025-01-07,007,buzzsprout,20\n"
WAIT_SECONDS = 20


def browser_or_skip():
    """Selenium's pieces, or a skip (a failure under CI=true) that says how to get them."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install -r requirements.txt)")
    if missing:
        message = (f"browser test needs {', '.join(missing)}: run `bash scripts/install_chromium.sh` "
                   "(Debian's chromium and chromium-driver)")
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return webdriver, Options, Service


@pytest.fixture
def browser(tmp_path, monkeypatch):
    webdriver, Options, Service = browser_or_skip()
    monkeypatch.setenv("SE_OFFLINE", "true")  # belt and braces: Selenium Manager must not go online
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-extensions", "--window-size=1400,2200", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def live_hub(postgres_url, redis_url, hub_env):
    """The hub's WSGI app served by werkzeug on a free 127.0.0.1 port, in a thread; jobs go to the real Redis."""
    hub_env(postgres_url, redis_url, HUB_JOB_RETRIES="0")
    app = create_app({"database_url": postgres_url, "redis_url": redis_url, "job_retries": 0})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-hub", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()




def test_admin_logs_in_sees_the_failed_job_retries_it_and_sees_it_complete(
        browser, live_hub, postgres_url, redis_url, batch_fault):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)
    tenant = make_tenant(postgres_url)

    # An upload through the running hub's API, and a worker whose database goes away: a failed import job.
    response = requests.post(f"{live_hub}/api/v1/etl/upload", timeout=WAIT_SECONDS,
                             headers={"Authorization": f"Bearer {tenant['secrets']['api']}"},
                             data={"table": "metrics_daily"}, files={"file": ("m.csv", io.BytesIO(CSV.encode()))})
    assert response.status_code == 202, response.text
    import_id = response.json()["import_id"]
    job_id = IMPORT.job_id(import_id)
    batch_fault.fail()
    work(redis_url)
    batch_fault.heal()
    failed = FailedJobRegistry("hub", connection=Redis.from_url(redis_url))
    assert failed.get_job_ids() == [job_id]

    ARTIFACTS.mkdir(exist_ok=True)
    try:
        # Not logged in: the page sends the browser to the login form.
        browser.get(f"{live_hub}/admin")
        wait.until(ec.presence_of_element_located((By.ID, "login-form")))
        assert browser.current_url == f"{live_hub}/admin/login?next=/admin"

        browser.find_element(By.ID, "token").send_keys("not-the-token")
        browser.find_element(By.ID, "login-submit").click()
        assert wait.until(ec.presence_of_element_located((By.ID, "login-error"))).text == "That is not the admin token."

        browser.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
        browser.find_element(By.ID, "login-submit").click()
        wait.until(ec.url_to_be(f"{live_hub}/admin"))
        cookie = browser.get_cookie("session")
        assert cookie and cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"

        # The failed job, with the last line of its traceback, and its Retry button.
        row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'tr.failed-job[data-job-id="{job_id}"]')))
        assert row.find_element(By.CSS_SELECTOR, ".job-error").text == "ConnectionError: database went away"
        assert "acme" in row.text
        status = browser.find_element(By.CSS_SELECTOR, f'tr[data-import-id="{import_id}"] .import-status').text
        assert status.startswith("failed")

        browser.save_screenshot(str(ARTIFACTS / "admin-failed-job.png"))
        row.find_element(By.ID, f"retry-{job_id}").click()
        flash = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".flash.ok")))
        assert flash.text == f"Import {import_id} re-enqueued as job {job_id}."
        assert browser.find_element(By.ID, "failed-jobs").text == "No failed jobs."
        assert browser.find_element(By.CSS_SELECTOR, '#queue-counts [data-registry="queued"]').text == "1"
        assert failed.get_job_ids() == [] and load_import(postgres_url, import_id).status == "queued"

        # A worker takes the job again, this time with its database: reloading shows the import completed.
        work(redis_url)
        browser.refresh()
        status = wait.until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, f'tr[data-import-id="{import_id}"] .import-status')))
        assert status.text == "completed"
        cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, f'tr[data-import-id="{import_id}"] td')]
        assert cells[6:11] == ["2", "2", "0", "0", "0"]  # rows, inserted, updated, unchanged, refused
        assert browser.find_element(By.ID, "failed-jobs").text == "No failed jobs."
        assert "postgresql" in browser.find_element(By.ID, "database").text
        bars = browser.find_elements(By.CSS_SELECTOR, "#rows-chart rect.bar")
        assert len(bars) == 24 and sum(int(bar.get_attribute("data-rows")) for bar in bars) == 2

        # The import's own page, from its link.
        browser.find_element(By.CSS_SELECTOR, f'tr[data-import-id="{import_id}"] a').click()
        wait.until(ec.presence_of_element_located((By.ID, "import-facts")))
        assert browser.find_element(By.ID, "import-status").text == "completed"
        assert browser.find_element(By.ID, "import-counts").text.startswith("2 rows: 2 inserted")
        browser.back()
        wait.until(ec.presence_of_element_located((By.ID, "rows-chart")))
        browser.save_screenshot(str(ARTIFACTS / "admin.png"))
    except Exception:
        browser.save_screenshot(str(ARTIFACTS / "admin-failure.png"))
        raise

    done = load_import(postgres_url, import_id)
    assert (done.status, done.rows_inserted, done.error) == ("completed", 2, None)
    assert (ARTIFACTS / "admin.png").stat().st_size > 10_000


def test_the_console_filters_imports_and_fits_1024_and_1440_pixels(browser, live_hub, postgres_url):
    """Filters drive the imports table in a real browser; at 1024 and 1440 px the page has no sideways scroll
    (wide tables scroll inside their own box). Screenshots are kept in test-artifacts/."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    # A page being replaced can answer for an element of the old one: such answers are retried.
    wait = WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException, WebDriverException))

    def submit(button):
        """Click and wait for the next page: a click returns before the browser has navigated."""
        old = browser.find_element(By.TAG_NAME, "html")
        button.click()
        wait.until(ec.staleness_of(old))

    alpha, beta = make_tenant(postgres_url, "alpha"), make_tenant(postgres_url, "beta")
    for who, body in ((alpha, CSV), (beta, CSV), (beta, CSV.replace("10", "11"))):
        response = requests.post(f"{live_hub}/api/v1/etl/upload", timeout=WAIT_SECONDS,
                                 headers={"Authorization": f"Bearer {who['secrets']['api']}"},
                                 data={"table": "metrics_daily"},
                                 files={"file": (f"{who['slug']}-downloads.csv", io.BytesIO(body.encode()))})
        assert response.status_code == 202, response.text
    browser.get(f"{live_hub}/admin/login")
    browser.find_element(By.NAME, "token").send_keys(os.environ["HUB_ADMIN_TOKEN"])
    submit(browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    wait.until(ec.presence_of_element_located((By.ID, "import-filters")))

    def shown_tenants():
        wait.until(ec.presence_of_element_located((By.ID, "recent-imports")))
        return wait.until(lambda _: [row.find_elements(By.TAG_NAME, "td")[1].text for row in
                                     browser.find_elements(By.CSS_SELECTOR, "#recent-imports tr[data-import-id]")]
                          or (["(none)"] if "No import matches" in browser.page_source else None))

    assert sorted(shown_tenants()) == ["alpha", "beta", "beta"]
    Select(browser.find_element(By.CSS_SELECTOR, "#import-filters select[name=tenant]")).select_by_visible_text("beta")
    submit(browser.find_element(By.CSS_SELECTOR, "#import-filters button[type=submit]"))
    assert shown_tenants() == ["beta", "beta"] and "tenant=beta" in browser.current_url
    search = browser.find_element(By.CSS_SELECTOR, "#import-filters input[name=q]")
    search.send_keys("alpha-downloads")
    submit(browser.find_element(By.CSS_SELECTOR, "#import-filters button[type=submit]"))
    assert shown_tenants() == ["(none)"] and "No import matches these filters." in browser.page_source
    submit(browser.find_element(By.LINK_TEXT, "clear"))
    assert sorted(shown_tenants()) == ["alpha", "beta", "beta"]

    for width in (1024, 1440):
        browser.set_window_size(width, 1600)
        browser.get(f"{live_hub}/admin")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        browser.save_screenshot(str(ARTIFACTS / f"admin-{width}px.png"))
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"


def test_a_person_signs_in_uploads_a_file_and_sees_the_dashboards(browser, live_hub, postgres_url, tmp_path):
    """The tenant page in a real browser: sign in with the API token, upload a CSV, read the outcome;
    the charts render (screenshot kept in test-artifacts/)."""
    from datetime import date, timedelta

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)

    tenant = make_tenant(postgres_url, "acme")
    days = [date.today() - timedelta(days=n) for n in range(1, 15)]
    upload = tmp_path / "fortnight.csv"
    upload.write_text("day,episode_id,podcast_id,source,downloads\n" + "".join(
        f"{day},ep-{n % 3},pod-1,manual,{100 + 10 * n}\n" for n, day in enumerate(days)) + f"{days[0]},ep-9,pod-1,manual,n/a\n")

    browser.get(f"{live_hub}/tenant")
    browser.find_element(By.ID, "token").send_keys(tenant["secrets"]["api"])
    browser.find_element(By.ID, "login-submit").click()
    Select(wait.until(ec.presence_of_element_located((By.ID, "upload-table")))).select_by_visible_text("metrics_daily")
    browser.find_element(By.ID, "upload-file").send_keys(str(upload))
    browser.find_element(By.ID, "upload-submit").click()
    # Jobs go to Redis here: the outcome page shows the import queued; the worker runs it.
    assert wait.until(ec.presence_of_element_located((By.ID, "outcome-status"))).text in ("queued", "running", "completed_with_errors")
    work_url = browser.current_url
    work(os.environ["HUB_REDIS_URL"])
    browser.get(work_url)
    assert browser.find_element(By.ID, "outcome-status").text == "completed_with_errors"
    assert "14 inserted" in browser.find_element(By.ID, "outcome-counts").text
    assert browser.find_element(By.ID, "refused-csv").is_displayed()

    browser.get(f"{live_hub}/tenant")
    bars = browser.find_elements(By.CSS_SELECTOR, 'svg[data-chart="downloads"] rect.bar')
    assert len(bars) == 30 and any(float(bar.get_attribute("height")) > 0 for bar in bars)
    assert browser.find_elements(By.CSS_SELECTOR, 'svg[data-chart="heatmap"] rect.heat')
    browser.save_screenshot(str(ARTIFACTS / "tenant-page.png"))


def test_the_admin_syncs_a_connector_resends_a_delivery_and_downloads_refused_rows(browser, live_hub, postgres_url,
                                                                                  redis_url):
    """The console's buttons in a real browser: Sync now queues the connector's job, Resend queues the failed
    delivery again, and the import page's CSV link gives the refused rows with their error column."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    from rq import Queue

    from hub.events import emit
    from hub.jobs.connectors import configure
    from hub.jobs.kinds import DELIVERY, SYNC
    from hub.models import HookDelivery, HookSubscription
    from hub.tenants import tenant_by_slug
    from tests.conftest import SECRET_KEY
    from tests.helpers import observer

    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    # A page being replaced can answer for an element of the old one: such answers are retried.
    wait = WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException, WebDriverException))
    tenant = make_tenant(postgres_url, "acme")
    session = observer(postgres_url)
    configure(session, tenant_by_slug(session, "acme"), "transistor", {"show_id": "54321", "api_key": "tr-key"},
              60, SECRET_KEY)
    event = emit(session, tenant["id"], "etl.import_completed", {"import_id": "x"}, subject="x")
    subscription = HookSubscription(tenant_id=tenant["id"], event="etl.import_completed",
                                    target_url="https://hooks.zapier.com/hooks/catch/1/abc/")
    session.add(subscription)
    session.flush()
    delivery = HookDelivery(tenant_id=tenant["id"], subscription_id=subscription.id, event_id=event.id,
                            status="failed", attempts=9, last_status_code=500, last_error="HTTP 500")
    session.add(delivery)
    session.commit()
    delivery_id = delivery.id
    session.close()
    response = requests.post(f"{live_hub}/api/v1/etl/upload", timeout=WAIT_SECONDS,
                             headers={"Authorization": f"Bearer {tenant['secrets']['api']}"},
                             data={"table": "metrics_daily"},
                             files={"file": ("bad.csv", io.BytesIO(b"day,episode_id,source,downloads\n"
                                                                   b"2025-01-06,007,manual,lots\n"))})
    import_id = response.json()["import_id"]
    work(redis_url)

    def click_and_wait(element):
        old = browser.find_element(By.TAG_NAME, "html")
        element.click()
        wait.until(ec.staleness_of(old))

    def flash_says(text: str) -> bool:
        return wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), text))

    browser.get(f"{live_hub}/admin/login")
    browser.find_element(By.ID, "token").send_keys(os.environ["HUB_ADMIN_TOKEN"])
    click_and_wait(browser.find_element(By.ID, "login-submit"))
    click_and_wait(wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, 'tr[data-connector="transistor"] button'))))
    assert flash_says("transistor: sync queued; a worker runs it.")
    click_and_wait(wait.until(ec.element_to_be_clickable((By.ID, f"resend-delivery-{delivery_id}"))))
    assert flash_says(f"delivery(ies) resent ({delivery_id})")
    queued = Queue("hub", connection=Redis.from_url(redis_url)).job_ids
    assert SYNC.job_id(tenant["id"], "transistor") in queued and DELIVERY.job_id(delivery_id) in queued

    browser.get(f"{live_hub}/admin/imports/{import_id}")
    link = wait.until(ec.presence_of_element_located((By.LINK_TEXT, "CSV"))).get_attribute("href")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    download = requests.get(link, cookies=cookies, timeout=WAIT_SECONDS)
    assert download.status_code == 200
    header, refused_row = download.content.decode("utf-8-sig").splitlines()
    assert header == "day,episode_id,source,downloads,error"
    assert refused_row.startswith('2025-01-06,007,manual,lots,"row 2, downloads:')
