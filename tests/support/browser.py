"""A real browser for tests: Debian's headless Chromium driven by Selenium through Debian's
chromedriver (no driver or browser is downloaded). Every page a Person opens is checked once
with axe-core (npm, tests/browser) for serious and critical accessibility violations, and at
desktop width walked with the Tab key alone, which must reach every control of every form and
every link (opening <details> with Enter), and read for what a person should never see there (an
ISO instant with its T, a contract field name outside <code>); the test then asserts all of these
found nothing."""
import os
import re
import shutil
import urllib.parse
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "portal"
AXE = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"
# serious and critical violations only (the bar); each as "rule: help @ the first nodes"
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(result => done(result.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => v.id + ': ' + v.help + ' @ ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))),
  error => done(['axe failed: ' + error]));
"""

# Every control a person could use on the page now shown, each tagged once with data-kb (its
# number); radios by group (Tab enters a group once, arrows move within it)
CONTROLS_JS = """
const found = [];
for (const el of document.querySelectorAll('a[href], button, input, select, textarea, summary')) {
  if (el.type === 'hidden' || el.disabled) continue;
  const box = el.getBoundingClientRect();
  if (!(box.width || box.height) || getComputedStyle(el).visibility === 'hidden') continue;
  if (!el.dataset.kb) el.dataset.kb = el.type === 'radio' ? 'radio:' + el.name : 'kb' + (window.__kb = (window.__kb || 0) + 1);
  found.push([el.dataset.kb, el.outerHTML.slice(0, 120)]);
}
return found;
"""
FOCUSED_JS = """
const el = document.activeElement;
if (!el || el === document.body) return [null, false];
return [el.dataset.kb || null, el.tagName === 'SUMMARY' && !el.parentElement.open];
"""
# What a person reads on the page: its text without <code> (identifiers shown as such on purpose)
READABLE_TEXT_JS = """
const copy = document.querySelector('main').cloneNode(true);
for (const el of copy.querySelectorAll('code, pre, script, style, svg')) el.remove();
return copy.innerText;
"""
RAW_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")  # ISO with a T: never on a page (Asia/Shanghai, "2026-12-20 15:19")
FIELD_NAME = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # water_months_3m: labels, not contract names
RESET_JS = """
for (const el of document.querySelectorAll('details[data-kb-opened]')) { el.open = false; el.removeAttribute('data-kb-opened'); }
if (document.activeElement) document.activeElement.blur();
window.scrollTo(0, 0);
"""


def chromium(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--lang=zh-CN"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def replaced(element) -> bool:
    """Has the page holding ``element`` been replaced? (Chromium says so either as a stale element
    or as a node that no longer belongs to the document.)"""
    try:
        element.is_enabled()
        return False
    except WebDriverException:  # StaleElementReferenceException is one
        return True


class Person:
    """One person's browser on the portal."""

    def __init__(self, base: str, width: int = 1280, height: int = 900):
        self.base, self.driver = base, chromium(width, height)
        self.inaccessible: dict[str, list[str]] = {}  # page → axe-core's serious and critical violations
        self.checked: set[str] = set()

    def open(self, path: str) -> "Person":
        self.driver.get(self.base + path)
        self.check_accessibility()
        return self

    def check_accessibility(self) -> None:
        """axe-core on the page now shown, once per page (its path and the names of its query) and
        width (desktop or phone)."""
        self.settle()
        url = urllib.parse.urlsplit(self.driver.current_url)
        page = url.path + ("?" + "&".join(sorted(urllib.parse.parse_qs(url.query))) if url.query else "")
        if self.driver.execute_script("return window.innerWidth") < 600:
            page += " (phone)"  # checked again at a phone's width: a table may scroll there
        if page in self.checked or not url.path.startswith("/portal"):
            return
        self.checked.add(page)
        if not AXE.exists():
            raise RuntimeError(f"{AXE} is missing: run scripts/bootstrap (it installs axe-core with npm)")
        self.driver.execute_script(AXE.read_text())
        self.driver.set_script_timeout(60)
        problems = self.driver.execute_async_script(AXE_RUN)
        if problems:
            self.inaccessible[page] = problems
        if " (phone)" not in page:
            readable = self.driver.execute_script(READABLE_TEXT_JS)
            raw = RAW_INSTANT.findall(readable) + FIELD_NAME.findall(readable)
            if raw:
                self.inaccessible[page + " (raw values)"] = sorted(set(raw))[:10]
            unreached = self.unreached_by_keyboard()
            if unreached:
                self.inaccessible[page + " (keyboard)"] = unreached

    def unreached_by_keyboard(self) -> list[str]:
        """Tab from the top of the page through every control, opening each closed <details> with
        Enter on its summary as a keyboard user would (what it holds is then counted too); the
        controls Tab never reached. The page is left as it was found."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        driver = self.driver
        controls = dict(driver.execute_script(CONTROLS_JS))
        reached: set[str] = set()
        presses = 0
        while presses < 3 * len(controls) + 20 and not set(controls) <= reached:
            ActionChains(driver).send_keys(Keys.TAB).perform()
            presses += 1
            name, closed_summary = driver.execute_script(FOCUSED_JS)
            if name:
                reached.add(name)
            if closed_summary:
                driver.execute_script("document.activeElement.parentElement.setAttribute('data-kb-opened', '')")
                ActionChains(driver).send_keys(Keys.ENTER).perform()
                controls.update(dict(driver.execute_script(CONTROLS_JS)))
        driver.execute_script(RESET_JS)
        return [html for name, html in controls.items() if name not in reached]

    def fits(self, width: int = 390) -> bool:
        """Does the page fit a phone's width without scrolling sideways?"""
        return self.driver.execute_script(f"return document.documentElement.scrollWidth <= {width} + 1")

    def sign_in(self, key: str) -> "Person":
        self.open("/portal/sign-in")
        self.driver.find_element(By.ID, "key").send_keys(key)
        self.submit("main button[type=submit]")
        return self

    def sign_in_by_keyboard(self, key: str) -> "Person":
        """Sign in without the mouse: Tab from the top of the page until the key field has the
        focus, type, press Enter (fails if Tab never reaches the field)."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        self.open("/portal/sign-in")
        old = self.driver.find_element(By.TAG_NAME, "html")
        for _ in range(15):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()  # to whatever has the focus
            if self.driver.switch_to.active_element.get_attribute("id") == "key":
                break
        else:
            raise AssertionError("Tab never reached the sign-in key field")
        ActionChains(self.driver).send_keys(key, Keys.ENTER).perform()
        WebDriverWait(self.driver, 60, poll_frequency=0.05).until(lambda _d: replaced(old), "sign-in never answered")
        self.check_accessibility()
        return self

    def text(self) -> str:
        self.settle()
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_for_text(self, path: str, wanted: str, timeout: float = 30) -> str:
        """Reload ``path`` until its text contains ``wanted``."""
        def shows(_driver):
            self.open(path)
            return wanted in self.text()
        WebDriverWait(self.driver, timeout, poll_frequency=0.5).until(shows, f"{path} never showed {wanted!r}")
        return self.text()

    def charts(self) -> dict[str, str]:
        """The charts on the page now shown: caption → the text description of every value."""
        return {figure.find_element(By.TAG_NAME, "figcaption").text:
                figure.find_element(By.CSS_SELECTOR, "svg desc").get_attribute("textContent")
                for figure in self.driver.find_elements(By.CSS_SELECTOR, "figure")}

    def wait_for_chart(self, path: str, caption: str, wanted: str, timeout: float = 60) -> str:
        """Reload ``path`` until its chart ``caption`` describes ``wanted``; that description."""
        def shows(_driver):
            return wanted in self.open(path).charts().get(caption, "")
        WebDriverWait(self.driver, timeout, poll_frequency=0.5).until(
            shows, f"{path}: chart {caption!r} never showed {wanted!r}")
        return self.charts()[caption]

    def fill(self, css: str, value: str) -> None:
        field = self.driver.find_element(By.CSS_SELECTOR, css)
        field.clear()
        field.send_keys(value)

    def click(self, css: str) -> None:
        """A click that stays on the page (a checkbox)."""
        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def submit(self, css_or_element) -> None:
        """Click a button that sends its form, and wait for the page that answers it."""
        button = (self.driver.find_element(By.CSS_SELECTOR, css_or_element) if isinstance(css_or_element, str)
                  else css_or_element)
        old = self.driver.find_element(By.TAG_NAME, "html")
        button.click()
        WebDriverWait(self.driver, 60, poll_frequency=0.05).until(lambda _d: replaced(old), "the form was never answered")
        self.check_accessibility()

    def settle(self, timeout: float = 30) -> None:
        """Wait until the page a click led to is there (a form's answer is a new page)."""
        WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
            and d.find_elements(By.TAG_NAME, "main"), "the page never finished loading")

    def cookie(self, name: str) -> str:
        return self.driver.get_cookie(name)["value"]

    def screenshot(self, name: str) -> None:
        """Into docs/portal/ when CREDITSTREAM_SCREENSHOTS=1 (how the committed ones were made)."""
        if os.environ.get("CREDITSTREAM_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            width = self.driver.get_window_size()["width"]
            self.driver.set_window_size(width, min(max(height + 140, 600), 6000))
            self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    def quit(self) -> None:
        self.driver.quit()
