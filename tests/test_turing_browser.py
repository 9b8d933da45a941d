"""The turing page in a real browser: headless Chromium driven by Selenium against the app served by waitress on
127.0.0.1. An annotator answers 20 images by clicking and by keys, in feedback and in plain mode; the votes in
SQLite must be what was clicked, the feedback what the database holds as the truth. Screenshots of each mode (and
of a phone-sized window) go to ``tests/artifacts/`` (``$TURING_ARTIFACTS`` overrides the directory).

Skipped only when Chromium or chromedriver is missing (``apt-get install chromium chromium-driver``).
"""
import os
import re
import shutil
import sqlite3
import tempfile

import pytest

from improved_gan_tf2.turing.testing import running_server, write_study

CHROMIUM = os.environ.get("TURING_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TURING_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = os.environ.get("TURING_ARTIFACTS") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                               "artifacts")
CONDITIONS = [
    {"name": "feedback", "feedback": True, "n_generated": 10, "n_real": 10},
    {"name": "plain", "feedback": False, "n_generated": 10, "n_real": 10},
]

pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason="no Chromium/chromedriver at %s and %s (apt-get install chromium chromium-driver)" % (CHROMIUM,
                                                                                                 CHROMEDRIVER))


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="turing-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--window-size=900,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("turing_browser")
    study = write_study(str(directory / "study"), CONDITIONS, shape=(8, 8, 3), n_images=30,
                        title="Real or generated?")
    db_path = str(directory / "votes.sqlite")
    with running_server(study, db_path, threads=4) as (base, _, _):
        yield base, db_path


def wait_phase(driver, phase, progress=None, timeout=10):
    """Wait until the page is in ``phase`` (and, if given, its progress line starts with ``progress``)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        if d.find_element("tag name", "body").get_attribute("data-phase") != phase:
            return False
        return progress is None or d.find_element("id", "progress").text.startswith(progress)

    WebDriverWait(driver, timeout, poll_frequency=0.02).until(ready)


def answer(driver, i, choice):
    """Answer by a click (even i) or a key (odd i: R / G, or the arrow keys every other time)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    if i % 2 == 0:
        driver.find_element("id", "answer-" + choice).click()
    else:
        keys = {"real": ("r", Keys.ARROW_LEFT), "generated": ("g", Keys.ARROW_RIGHT)}[choice]
        ActionChains(driver).send_keys(keys[(i // 2) % 2]).perform()


def go_on(driver, i):
    """In feedback mode: the Next button, or the space bar."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    if i % 3 == 0:
        driver.find_element("id", "next").click()
    else:
        ActionChains(driver).send_keys(Keys.SPACE).perform()


def votes(db_path, condition):
    db = sqlite3.connect(db_path)
    return db.execute("SELECT position, answer, truth, correct, server_ms, client_ms, feedback FROM votes "
                      "WHERE condition = ? ORDER BY position", (condition,)).fetchall()


def screenshot(driver, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    assert driver.save_screenshot(path)
    print("screenshot: %s" % path)
    return path


def check_page(driver, base):
    """Pixelated integer scaling, nothing loaded from elsewhere, the keys shown."""
    img = driver.find_element("id", "image")
    assert img.value_of_css_property("image-rendering") == "pixelated"
    natural, shown = driver.execute_script("return [arguments[0].naturalWidth, arguments[0].clientWidth]", img)
    assert natural == 8 and shown >= 8 * 16 and shown % 8 == 0, (natural, shown)
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(r.startswith(base + "/") for r in resources), resources
    keys = driver.find_element("id", "keys").text
    assert "R" in keys and "G" in keys and "←" in keys and "→" in keys


def check_done_page(driver):
    """The end page: the thanks right below the progress line, without the keys line or the empty image stage."""
    for name in ("keys", "stage", "answers", "continue"):
        assert not driver.find_element("id", name).is_displayed(), name
    gap = driver.execute_script("return document.getElementById('done').getBoundingClientRect().top - "
                                "document.getElementById('progress').getBoundingClientRect().bottom")
    assert 0 <= gap < 40, gap


def test_feedback_mode_by_clicks_and_keys(browser, server):
    base, db_path = server
    browser.get(base + "/c/feedback")
    choices = []
    for i in range(20):
        wait_phase(browser, "answer", "Image %d of 20" % (i + 1))
        if i == 0:
            check_page(browser, base)
        choice = "real" if (i * 7) % 3 else "generated"
        answer(browser, i, choice)
        choices.append(choice)
        wait_phase(browser, "feedback", "Answered %d of 20" % (i + 1))
        result = browser.find_element("id", "result").text
        truth = votes(db_path, "feedback")[i][2]
        assert result == "%s: this image is %s." % ("Right" if choice == truth else "Wrong", truth), result
        assert browser.find_element("id", "image").get_attribute("class") == ("right" if choice == truth
                                                                               else "wrong")
        if i == 4:
            screenshot(browser, "turing_feedback.png")
        go_on(browser, i)
    wait_phase(browser, "done")
    rows = votes(db_path, "feedback")
    assert [r[1] for r in rows] == choices and [r[0] for r in rows] == list(range(20))
    assert all(r[3] == (r[1] == r[2]) and r[6] == 1 for r in rows)
    assert all(r[4] > 0 and r[5] is not None and r[5] >= 0 for r in rows)  # server- and page-side times
    right = sum(r[3] for r in rows)
    assert browser.find_element("id", "summary").text == (
        "You answered all 20 images. You were right on %d of them." % right)
    assert sorted(r[2] for r in rows).count("real") == 10
    check_done_page(browser)
    screenshot(browser, "turing_feedback_done.png")


def test_plain_mode_by_clicks_and_keys(browser, server):
    base, db_path = server
    browser.get(base + "/c/plain")
    choices = []
    for i in range(20):
        wait_phase(browser, "answer", "Image %d of 20" % (i + 1))
        assert browser.find_element("id", "progress").text == "Image %d of 20" % (i + 1)
        assert browser.find_element("id", "result").is_displayed() is False
        if i == 4:
            screenshot(browser, "turing_plain.png")
        choice = "generated" if i % 3 else "real"
        answer(browser, i, choice)
        choices.append(choice)
    wait_phase(browser, "done")
    rows = votes(db_path, "plain")
    assert [r[1] for r in rows] == choices and all(r[6] == 0 for r in rows)
    assert browser.find_element("id", "summary").text == "You answered all 20 images."
    check_done_page(browser)
    # a reload after the end adds nothing and shows the end again
    browser.refresh()
    wait_phase(browser, "done")
    assert len(votes(db_path, "plain")) == 20


def test_phone_screen(browser, server):
    base, db_path = server
    browser.set_window_size(390, 844)
    try:
        browser.delete_all_cookies()  # a new annotator
        browser.get(base + "/c/feedback")
        wait_phase(browser, "answer")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        viewport = browser.execute_script("return window.innerWidth")
        assert width <= viewport  # no sideways scrolling
        for name in ("answer-real", "answer-generated"):
            size = browser.find_element("id", name).size
            assert size["height"] >= 60 and size["width"] >= 120, size
        shown = browser.execute_script("return document.getElementById('image').clientWidth")
        assert shown >= 200 and shown % 8 == 0
        bottom = browser.execute_script("return document.getElementById('answers').getBoundingClientRect().bottom")
        assert bottom <= browser.execute_script("return window.innerHeight")  # image and buttons on one screen
        screenshot(browser, "turing_phone.png")
        browser.find_element("id", "answer-real").click()
        wait_phase(browser, "feedback")
        screenshot(browser, "turing_phone_feedback.png")
        assert len(votes(db_path, "feedback")) == 21  # the earlier annotator's 20 and this one
    finally:
        browser.set_window_size(900, 1000)


def test_many_new_annotators_at_once_are_asked_to_wait(browser, tmp_path):
    """Past the bound on new annotators a minute, the page says so and waits (it tries again after the seconds the
    server gives), instead of failing."""
    study = write_study(str(tmp_path / "study"), CONDITIONS, shape=(8, 8, 3), n_images=30)
    from selenium.webdriver.support.ui import WebDriverWait

    with running_server(study, str(tmp_path / "votes.sqlite"), threads=2, new_annotators_per_minute=1) as (base, _, _):
        browser.delete_all_cookies()
        browser.get(base + "/c/plain")
        wait_phase(browser, "answer")  # the first new annotator of the minute
        browser.delete_all_cookies()  # a second one
        browser.get(base + "/c/plain")
        WebDriverWait(browser, 10).until(
            lambda d: "Many people are starting at once" in d.find_element("id", "progress").text)
        assert not browser.find_element("id", "error").is_displayed()
        assert re.search(r"starting in \d+ s", browser.find_element("id", "progress").text)
