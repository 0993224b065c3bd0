"""Refreshes the README's screenshots from the real demo in headless Chromium.

Starts `vitals demo` (the embedded default, in a temporary data directory, --loop), logs in with
the demo login, waits until the simulated sessions have raised alarms and drawn their charts,
and writes at 1600x1000:

- docs/screenshot-overview.png: the live overview with its alarms;
- docs/screenshot-session.png: the hypertensive-spike session's view (trends, verdict, alarms);
- docs/screenshot-report.png: that session's clinical report;
- docs/screenshot-wall.png: the wall (kiosk) page at 1920x1080, a clinic's central screen;
- docs/screenshot-phone.png: the overview on a phone, 390x844 (the companion at home).

    .venv/bin/python scripts/screenshots.py [--out docs] [--timeout-s 240]

Needs Debian's chromium and chromium-driver (scripts/test.sh installs them). Not run by the
tests: it rewrites tracked files.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1600, 1000
WALL = (1920, 1080)
PHONE = (390, 844)


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if result := condition():
                return result
        except WebDriverException:
            pass
        time.sleep(0.5)  # polling a page for a condition, not synchronising threads
    raise SystemExit(f"screenshots: timed out after {timeout_s:.0f} s waiting for {what}")


def start_demo(data_dir: str) -> tuple[subprocess.Popen, str, list[str]]:
    demo = subprocess.Popen(
        [sys.executable, "-m", "vitals", "demo", "--port", "0", "--loop"],
        cwd=ROOT, env={**os.environ, "VITALS_DATA_DIR": data_dir},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in demo.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    found = wait_for(lambda: next((m for line in list(lines)
                                   if (m := re.search(r"http://[\d.]+:\d+/", line))), None),
                     60, "the demo's dashboard URL")
    return demo, found.group(0), lines


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def at_size(driver: webdriver.Chrome, width: int, height: int) -> None:
    """The page's viewport exactly this size, a phone's (touch, mobile) below 600 px."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--timeout-s", type=float, default=240)
    args = parser.parse_args()
    from vitals.cli.demo import DEMO_LOGIN, DEMO_PASSWORD

    with tempfile.TemporaryDirectory() as data_dir:
        demo, url, log = start_demo(data_dir)
        driver = browser()
        try:
            driver.get(url + "login")
            driver.find_element(By.ID, "username").send_keys(DEMO_LOGIN)
            driver.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
            driver.find_element(By.ID, "login-submit").click()
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".tile--high"),
                     args.timeout_s, "a high alarm on the overview")
            wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR,
                                                      ".tile-trend .main-svg")) >= 3,
                     60, "the tiles' trends drawn")
            driver.save_screenshot(str(args.out / "screenshot-overview.png"))

            at_size(driver, *PHONE)
            wait_for(lambda: driver.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth;"), 30,
                "the overview to fit the phone's width")
            driver.save_screenshot(str(args.out / "screenshot-phone.png"))

            at_size(driver, *WALL)
            driver.get(url + "wall")
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".wall-tiles .tile--high"),
                     60, "a high alarm on the wall")
            wait_for(lambda: "updated" in driver.find_element(By.ID, "wall-age").text, 30,
                     "the wall's heartbeat")
            driver.save_screenshot(str(args.out / "screenshot-wall.png"))
            at_size(driver, WIDTH, HEIGHT)

            session = wait_for(lambda: next(
                (m.group(0) for line in list(log)
                 if (m := re.search(r"demo[\w]*-\d\d-hypertensive-spike", line))), None),
                60, "the hypertensive-spike session's id in the demo's log")
            driver.get(f"{url}session/{session}")
            wait_for(lambda: driver.execute_script(
                "const p = document.querySelector('.js-plotly-plot');"
                "return p && p.querySelectorAll('.scatterlayer path.js-line').length > 0;"),
                60, "the session chart drawn")
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".verdict"), 30,
                     "the verdict")
            driver.save_screenshot(str(args.out / "screenshot-session.png"))

            driver.get(f"{url}export/{session}/report.html")
            wait_for(lambda: driver.execute_script(
                "return document.readyState === 'complete' && "
                "document.body.innerText.length > 200;"), 60, "the report")
            driver.save_screenshot(str(args.out / "screenshot-report.png"))
        finally:
            driver.quit()
            demo.terminate()
            demo.wait(30)
    print(f"screenshots written to {args.out} (session {session})")


if __name__ == "__main__":
    main()
