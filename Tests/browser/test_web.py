"""Browser suite of the web pages: headless Chromium (Debian's chromium + chromium-driver) driven by selenium.

A fresh demo lab (setup import with Ca and Mg on Fiastar, reference samples, 20 demo samples) is served by the built `limsqueue serve` on a
free port; the scenarios run in file order on one browser, as the demo lab manager:

1. log in (a wrong password is refused first);
2. create a worksheet from the Hardness template, see the queued notice and the Queued worksheet, and see the
   notice disappear when the consumers finish;
3. enter results and submit them (queued, then processed);
4. requeue a failed task from the queue monitor (a `sleep` task asked to fail, added through the queue API);
5. change a setting and see a bad value refused on its field;
6. an analyst is refused the queue monitor (role check), and a form without its CSRF token is refused.

Every page is saved as a PNG in $LIMSQUEUE_SCREENSHOTS (default: artifacts/screenshots).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import openpyxl
import pytest
from cryptography.fernet import Fernet
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("LIMSQUEUE_BINARY", os.path.join(ROOT, ".build", "debug", "limsqueue"))
WORKBOOK = os.environ.get("SENAITE_SETUP_XLSX") or os.path.join(ROOT, "..", "shared", "data", "senaite-setup-test.xlsx")
SHOTS = os.environ.get("LIMSQUEUE_SCREENSHOTS", os.path.join(ROOT, "artifacts", "screenshots"))
WAIT = 60  # seconds a background step may take at most


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args, data_dir):
    subprocess.run([BINARY, *args, "--data-dir", data_dir, "--log-level", "error"], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)


def hardness_workbook(directory):
    """The demo workbook with Calcium and Magnesium measurable on Fiastar.

    The demo's Hardness template names the instrument Fiastar, and SENAITE's template application skips analyses
    whose service does not allow the template's instrument (reference 3.5); the demo workbook lists no service
    instruments, so the template would pull no routine analysis. Two rows in its "AnalysisService Instruments"
    sheet make the template do what its description says ("All Ca and Mg analyses and QC").
    """
    book = openpyxl.load_workbook(WORKBOOK)
    sheet = book["AnalysisService Instruments"]
    sheet.append(["Calcium", "Fiastar"])
    sheet.append(["Magnesium", "Fiastar"])
    path = os.path.join(directory, "setup-hardness-on-fiastar.xlsx")
    book.save(path)
    return path


@pytest.fixture(scope="module")
def server():
    """A demo lab served on a free port; yields (base URL, data dir)."""
    data_dir = tempfile.mkdtemp(prefix="limsqueue-web-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run("setup", "import", hardness_workbook(data_dir), data_dir=data_dir)
    run("setup", "reference-samples", data_dir=data_dir)
    run("demo", "samples", "--count", "20", data_dir=data_dir)
    # The status banner checks the server named in the settings: this one.
    run("settings", "set", "server", base + "/senaite", data_dir=data_dir)
    log = open(os.path.join(data_dir, "serve.log"), "w")
    process = subprocess.Popen([BINARY, "serve", "--port", str(port), "--data-dir", data_dir, "--log-level", "warning"],
                               stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/@@API/senaite/v1/version", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline or process.poll() is not None:
                    raise RuntimeError("limsqueue serve did not start; see " + log.name)
                time.sleep(0.2)
        yield base, data_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1366,1000"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name):
    """Saves a full-page screenshot as <SHOTS>/<name>.png."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, 1000)")
    driver.set_window_size(1366, min(int(height) + 160, 5000))
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))
    driver.set_window_size(1366, 1000)


def wait_for(driver, condition, timeout=WAIT, message=""):
    # The pages reload themselves while work is in background: a command may meet a page being replaced.
    wait = WebDriverWait(driver, timeout, poll_frequency=0.5, ignored_exceptions=(WebDriverException,))
    return wait.until(lambda d: condition(d), message)


def submit(driver, element):
    """Clicks a submit button and waits for the next page to load."""
    html = driver.find_element(By.TAG_NAME, "html")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    try:
        element.click()
    except WebDriverException as error:  # e.g. intercepted while the window settles after a screenshot resize
        print("click fell back to script:", error.msg)
        driver.execute_script("arguments[0].click()", element)
    # While Chromium navigates, commands may fail with transient errors (e.g. a detached frame): retry them.
    wait = WebDriverWait(driver, 30, poll_frequency=0.2, ignored_exceptions=(WebDriverException,))
    wait.until(EC.staleness_of(html))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def loaded(driver):
    """True once the current page has loaded completely (not while a self-refresh replaces it)."""
    return driver.execute_script("return document.readyState") == "complete"


def text_of(driver, element_id):
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found else ""


def login(driver, base, username, password):
    driver.get(base + "/login")
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    submit(driver, driver.find_element(By.ID, "login-submit"))


def test_login_as_lab_manager(server, browser):
    base, _ = server
    browser.get(base + "/queue_tasks")
    assert "/login" in browser.current_url, "an anonymous visitor is sent to the login page"
    browser.find_element(By.ID, "username").send_keys("labman1")
    browser.find_element(By.ID, "password").send_keys("wrong")
    shot(browser, "01-login")
    submit(browser, browser.find_element(By.ID, "login-submit"))
    assert "wrong user name or password" in text_of(browser, "login-error")
    browser.find_element(By.ID, "password").send_keys("labman1")
    submit(browser, browser.find_element(By.ID, "login-submit"))
    wait_for(browser, lambda d: d.current_url.endswith("/queue_tasks"), 10, "back to the page asked for")
    assert "labman1" in text_of(browser, "current-user")
    assert browser.find_element(By.ID, "server-status").get_attribute("data-status") == "ok"
    shot(browser, "02-queue-monitor-empty")


def test_worksheet_from_hardness_template_is_queued_then_processed(server, browser):
    base, _ = server
    browser.get(base + "/worksheets")
    Select(browser.find_element(By.ID, "analyst")).select_by_value("analyst1")
    Select(browser.find_element(By.ID, "template")).select_by_visible_text("Hardness")
    shot(browser, "03-worksheets-add-form")
    submit(browser, browser.find_element(By.ID, "add-worksheet-submit"))
    wait_for(browser, lambda d: "/worksheets/" in d.current_url, 10)
    notice = text_of(browser, "queued-notice")
    assert re.search(r"\d+ analys(is is|es are) being processed in background", notice), notice
    assert "being assigned in background" in text_of(browser, "flash")
    shot(browser, "04-worksheet-queued-notice")
    worksheet_url = browser.current_url
    browser.get(base + "/worksheets")
    row = browser.find_element(By.CSS_SELECTOR, "#worksheets tr[data-uid]")
    if row.get_attribute("data-queued") == "true":  # still queued (the template's assignment waits 5 s first)
        assert "Queued" in row.text
        assert not row.find_elements(By.CSS_SELECTOR, "input[type=checkbox]"), "a queued worksheet is not selectable"
    shot(browser, "05-worksheets-list-queued")
    browser.get(worksheet_url)
    # The page refreshes itself while work is in background; the notice goes when the consumers finish.
    wait_for(browser, lambda d: loaded(d) and not d.find_elements(By.ID, "queued-notice"), WAIT, "queued notice gone")
    rows = browser.find_elements(By.CSS_SELECTOR, "#layout tr[data-uid]")
    assert rows, "the template's analyses were assigned"
    assert all(r.get_attribute("data-state") == "assigned" for r in rows), [r.get_attribute("data-state") for r in rows]
    shot(browser, "06-worksheet-assigned")


def test_enter_results_and_submit(server, browser):
    base, _ = server
    worksheet_url = browser.current_url
    rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "#layout tr[data-uid]")
            if r.find_elements(By.CSS_SELECTOR, "td:nth-child(3)")[0].text == "routine"]
    chosen = rows[:2]
    uids = [r.get_attribute("data-uid") for r in chosen]
    sample_url = chosen[0].find_element(By.CSS_SELECTOR, "td:nth-child(4) a").get_attribute("href")
    for index, row in enumerate(chosen):
        field = row.find_element(By.CSS_SELECTOR, "input[type=text]")
        field.clear()
        field.send_keys(str(10 + index))
        row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    shot(browser, "07-worksheet-results-entered")
    submit(browser, browser.find_element(By.ID, "action-submit"))
    flash = text_of(browser, "flash")
    assert "2 results saved" in flash and "being processed in background" in flash, flash
    queued_rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "#layout tr[data-uid]")
                   if r.get_attribute("data-uid") in uids]
    if browser.find_elements(By.ID, "queued-notice"):
        assert all(r.find_element(By.CSS_SELECTOR, "input[type=checkbox]").get_attribute("disabled") for r in queued_rows)
    shot(browser, "08-worksheet-submit-queued")
    # The sample of the first submitted analysis, while the submit is (probably still) in background.
    browser.get(sample_url)
    if browser.find_elements(By.ID, "queued-notice"):
        assert "being processed in background" in text_of(browser, "queued-notice")
    shot(browser, "09-sample-queued-notice")
    browser.get(worksheet_url)
    wait_for(browser, lambda d: loaded(d) and not d.find_elements(By.ID, "queued-notice"), WAIT, "submit processed")
    states = {r.get_attribute("data-uid"): r.get_attribute("data-state")
              for r in browser.find_elements(By.CSS_SELECTOR, "#layout tr[data-uid]")}
    assert all(states[uid] == "to_be_verified" for uid in uids), states
    shot(browser, "10-worksheet-submitted")
    browser.get(sample_url)
    wait_for(browser, lambda d: loaded(d) and not d.find_elements(By.ID, "queued-notice"), WAIT, "sample notice gone")
    assert uids[0] in [r.get_attribute("data-uid") for r in browser.find_elements(By.CSS_SELECTOR, "#analyses tr[data-uid]")]
    shot(browser, "11-sample")
    browser.get(base + "/samples")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#samples tr[data-uid]")) == 20
    shot(browser, "12-samples-list")


def add_failing_task(base, data_dir):
    """Adds a `sleep` task that fails at once with no retries, through the queue API; returns its uid."""
    key = subprocess.run([BINARY, "key", "--data-dir", data_dir, "--log-level", "error"], check=True,
                         capture_output=True, text=True, cwd=ROOT).stdout.strip()
    token = Fernet(key.encode()).encrypt(f"{time.time() + 30}:labman1".encode()).decode()
    task = {"name": "sleep", "context_uid": "f" * 32, "context_path": "/senaite/demo/failing",
            "seconds": 0, "fail": True, "retries": 0, "min_seconds": 0}
    request = urllib.request.Request(base + "/@@API/senaite/v1/queue_server/add", data=json.dumps(task).encode(),
                                     headers={"Content-Type": "application/json", "X-Queue-Auth-Token": token})
    answer = json.load(urllib.request.urlopen(request, timeout=5))
    return answer["tasks"][0]["task_uid"] if "tasks" in answer else answer["items"][0]["task_uid"]


def sleep_attempts(driver):
    """Failed plus retried attempts of `sleep` in the monitor's per-name table."""
    for row in driver.find_elements(By.CSS_SELECTOR, "#per-name tr"):
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        if cells and cells[0] == "sleep":
            return int(cells[2]) + int(cells[3])
    return 0


def test_requeue_failed_task_from_monitor(server, browser):
    base, data_dir = server
    uid = add_failing_task(base, data_dir)
    browser.get(base + "/queue_tasks?filter=failed")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#tasks tr[data-task='{uid}']"), WAIT, "task failed")
    row = browser.find_element(By.CSS_SELECTOR, f"#tasks tr[data-task='{uid}']")
    assert row.get_attribute("data-status") == "failed"
    assert "failure requested" in row.text
    row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    shot(browser, "13-queue-monitor-failed")
    submit(browser, browser.find_element(By.ID, "requeue"))
    assert "Requeue 1 task?" in text_of(browser, "confirm-question")
    shot(browser, "14-queue-requeue-confirm")
    submit(browser, browser.find_element(By.ID, "confirm-yes"))
    assert "Requeued 1 task." in text_of(browser, "flash")
    # Requeued with the retries setting: it runs (and fails) again, which the statistics count.
    browser.get(base + "/queue_tasks?filter=all")
    wait_for(browser, lambda d: loaded(d) and sleep_attempts(d) >= 2, WAIT, "the requeued task ran again")
    assert browser.find_element(By.ID, "queue-chart-svg")
    shot(browser, "15-queue-monitor-statistics")
    browser.get(base + f"/queue_tasks/{uid}")
    assert uid in text_of(browser, "task-json")
    shot(browser, "16-queue-task-json")


def test_settings_refuse_a_bad_value(server, browser):
    base, _ = server
    browser.get(base + "/queue-controlpanel")
    field = browser.find_element(By.ID, "field-max_retries")
    field.clear()
    field.send_keys("99")
    submit(browser, browser.find_element(By.ID, "save-settings"))
    assert "Must be in 0...10, got 99" in text_of(browser, "error-max_retries")
    assert "Nothing was saved" in text_of(browser, "flash")
    shot(browser, "17-settings-bad-value")
    field = browser.find_element(By.ID, "field-max_retries")
    field.clear()
    field.send_keys("2")
    submit(browser, browser.find_element(By.ID, "save-settings"))
    assert "Settings saved." in text_of(browser, "flash")
    assert browser.find_element(By.ID, "field-max_retries").get_attribute("value") == "2"
    shot(browser, "18-settings-saved")
    submit(browser, browser.find_element(By.ID, "regenerate-key"))
    assert "restart" in text_of(browser, "confirm-question")
    shot(browser, "19-settings-regenerate-confirm")


def test_roles_and_csrf(server, browser):
    base, _ = server
    submit(browser, browser.find_element(By.ID, "logout"))
    login(browser, base, "analyst1", "analyst1")
    browser.get(base + "/queue_tasks")
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    assert "manage_queue" in text_of(browser, "error-message")
    assert not browser.find_elements(By.LINK_TEXT, "Queue monitor"), "no queue tabs for an analyst"
    shot(browser, "20-analyst-refused-monitor")
    # A form whose CSRF token was tampered with is refused.
    browser.get(base + "/worksheets")
    browser.execute_script("document.querySelector('#worksheets-form input[name=_csrf]').value = 'forged'")
    submit(browser, browser.find_element(By.ID, "remove-worksheets"))
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    assert "CSRF" in text_of(browser, "error-message")
    shot(browser, "21-csrf-refused")
