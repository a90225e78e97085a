"""The built site opened from file:// in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium): no console errors, charts drawn, a selector redraws
them, and a screenshot is kept with the test's output."""

import shutil

import pytest

from benchmarks.cli import main
from tests.test_site import three_runs

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                "(pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(
    not (BROWSER and DRIVER), reason="no headless browser: install Debian's chromium and "
    "chromium-driver (apt-get install -y chromium chromium-driver), as .ci/run does")


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def traces(driver) -> int:
    return driver.execute_script(
        "return document.querySelectorAll('#chart .scatterlayer .trace').length")


def test_the_site_opens_from_file_draws_its_charts_and_redraws_on_a_selector(tmp_path, browser):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    three_runs(tmp_path / "hist")
    site = tmp_path / "site"
    assert main(["site", "--history", str(tmp_path / "hist"), "--out", str(site)]) == 0
    browser.get((site / "index.html").as_uri())
    WebDriverWait(browser, 30).until(lambda d: traces(d) > 0)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    # train, b64, fp32, default, cpu, first model preset: one series per mode
    assert traces(browser) == 3
    points = browser.execute_script(
        "return document.querySelectorAll('#chart .scatterlayer .trace .point').length")
    assert points == 9  # three runs of three modes
    overview = browser.find_element("id", "overview-table").text
    assert "TensorFlow fastest" in overview and "tf-graph fp32" in overview
    assert len(browser.find_elements("css selector", "#run-table tr")) == 4  # head + 3 runs
    Select(browser.find_element("id", "sel-batch")).select_by_visible_text("all")
    WebDriverWait(browser, 30).until(lambda d: traces(d) == 6)  # batches 1 and 64 side by side
    assert "6 benchmarks match" in browser.find_element("id", "count").text
    browser.find_element("id", "log-scale").click()
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return document.getElementById('chart').layout.yaxis.type") == "log")
    shot = tmp_path / "site.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_an_empty_history_page_says_so_in_the_browser(tmp_path, browser):
    (tmp_path / "hist").mkdir()
    assert main(["site", "--history", str(tmp_path / "hist"), "--out", str(tmp_path / "site")]) == 0
    browser.get((tmp_path / "site" / "index.html").as_uri())
    assert "The history is empty" in browser.find_element("id", "empty").text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
