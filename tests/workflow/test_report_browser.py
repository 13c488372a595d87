"""The report of a small real run opened in a real browser (Debian's chromium, headless, driven
by selenium through /usr/bin/chromedriver): no console errors, every image decoded, no
horizontal overflow at 1280 px, the claims table and each section present. Screenshots of the
first screen and of the whole page are kept in $VRDL_TEST_ARTIFACTS, else the test's tmp dir
(their paths printed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH = 1280
# A fresh profile and nothing that reaches the network (the CI machine may be offline)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", f"--window-size={WIDTH},900")


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[test]' (selenium)")
    if not CHROMEDRIVER.exists() or not shutil.which("chromium"):
        pytest.fail("chromium is missing: apt-get install -y chromium chromium-driver (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.mark.slow
def test_the_report_in_a_real_browser(completed_run, browser, tmp_path):
    [report] = (completed_run / "results").rglob("report.html")
    browser.get(report.as_uri())
    assert browser.execute_script("return window.innerWidth") == WIDTH
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
    assert len(images) >= 10 and all(decoded for _, decoded in images), images
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the window"
    sections = browser.execute_script("return Array.from(document.querySelectorAll('h2[id]')).map(h => h.id)")
    assert sections[0] == "claims" and {"lenet_tiny", "resnet_tiny", "metainit", "convex", "ablation"} <= set(sections)
    header = browser.execute_script("return Array.from(document.querySelectorAll('#claims ~ .scroll table th'))"
                                    ".slice(0, 7).map(t => t.textContent)")
    assert header == ["claim", "verdict", "judged at", "decisive comparison", "gap ± noise (test loss)",
                      "noise: standard error from", "at gradient computations"]
    # the tiny runs are far shorter than the study's: said on the first screen, above the strip
    short = browser.execute_script(
        "const w = Array.from(document.querySelectorAll('p.warning'))"
        ".find(p => p.textContent.includes(\"runs shorter than the claim's protocol\"));"
        "return w ? w.getBoundingClientRect().top : null")
    assert short is not None and short < 900
    alts = [alt for alt, _ in images]
    assert "each claim's verdict along the gradient budget" in alts
    # the tiny runs learn too little for a target every optimizer reaches: the section says so
    profile = browser.execute_script("return document.querySelector('#profile + p').textContent")
    assert "performance profiles across workloads" in alts or profile.startswith("None: no workload")
    assert any(alt.endswith("expected best validation loss after k grid points") for alt in alts)

    artefacts = Path(os.environ.get("VRDL_TEST_ARTIFACTS", tmp_path))
    artefacts.mkdir(parents=True, exist_ok=True)
    first_screen = artefacts / "report-first-screen.png"
    browser.save_screenshot(str(first_screen))
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, min(height + 200, 16000))
    whole = artefacts / "report-whole-page.png"
    browser.save_screenshot(str(whole))
    print(f"screenshots: {first_screen} {whole}")
    assert first_screen.stat().st_size > 10_000 and whole.stat().st_size > 10_000
