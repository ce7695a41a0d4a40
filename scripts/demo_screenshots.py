"""Screenshots of a running demo's portal (`scripts/demo` prints the portal URL and the three
sign-in keys), for docs/portal/demo-*.png: the statistics page (operator, desktop and phone), the
loan centre, the enterprise's financing page, profile (with its charts) and the whitelist. Each
page is checked like the browser tests' (axe-core, keyboard, raw values) and any finding printed.

    .venv/bin/python scripts/demo_screenshots.py --portal http://127.0.0.1:8080/portal/ \\
        --enterprise KEY --lender KEY --operator KEY
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["CREDITSTREAM_SCREENSHOTS"] = "1"

from tests.support.browser import Person  # noqa: E402  (after the path and the switch above)

PAGES = {  # who → [(path, screenshot name, phone too)]
    "operator": [("/portal/statistics", "demo-statistics", True), ("/portal/centre", "demo-operator-centre", False),
                 ("/portal/whitelist", "demo-operator-whitelist", False)],
    "enterprise": [("/portal/me/finance", "demo-enterprise-finance", False), ("/portal/me", "demo-enterprise-profile",
                                                                             False)],
    "lender": [("/portal/inbox", "demo-officer-inbox", False)],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portal", required=True, help="the portal's URL as the demo printed it")
    for who in PAGES:
        parser.add_argument(f"--{who}", required=True, help=f"the demo's {who} sign-in key")
    args = parser.parse_args()
    base = args.portal.split("/portal")[0]
    findings = {}
    for who, pages in PAGES.items():
        person = Person(base).sign_in(getattr(args, who))
        try:
            for path, name, phone in pages:
                person.open(path)
                person.screenshot(name)
                print(f"{who}: {path} → docs/portal/{name}.png", flush=True)
                if phone:
                    person.driver.set_window_size(390, 844)
                    person.open(path)
                    person.screenshot(f"{name}-phone")
                    person.driver.set_window_size(1280, 900)
            findings.update(person.inaccessible)
        finally:
            person.quit()
    for page, problems in findings.items():
        print(f"{page}: {problems}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
