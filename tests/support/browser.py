"""A real browser for tests: Debian's headless Chromium driven by Selenium through Debian's
chromedriver (no driver or browser is downloaded)."""
import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "portal"


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

    def open(self, path: str) -> "Person":
        self.driver.get(self.base + path)
        return self

    def sign_in(self, key: str) -> "Person":
        self.open("/portal/sign-in")
        self.driver.find_element(By.ID, "key").send_keys(key)
        self.submit("main button[type=submit]")
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
        self.settle()

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
            self.driver.set_window_size(width, min(max(height + 140, 600), 2600))
            self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    def quit(self) -> None:
        self.driver.quit()
