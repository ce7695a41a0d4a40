"""The browser tests' own checker of keyboard use fails when Tab cannot reach a control (one
taken out of the tab order, one inside a <details> that Enter opens is fine). In Chromium, but
without Kafka: a page written here, served from a file."""
from tests.support.browser import Person

PAGE = """<!doctype html><html lang="en"><head><title>t</title></head><body><main>
<a href="#x">first</a>
<form><label for="a">A</label><input id="a" name="a">
<fieldset><legend>R</legend><input type="radio" name="r" id="r1"><label for="r1">1</label>
<input type="radio" name="r" id="r2"><label for="r2">2</label></fieldset>
<details><summary>more</summary><label for="b">B</label><textarea id="b"></textarea></details>
<button id="unreachable" tabindex="-1">mouse only</button><button type="submit">send</button></form>
</main></body></html>"""


def test_the_keyboard_walk_names_only_the_control_tab_cannot_reach(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(PAGE)
    person = Person("file://")
    try:
        person.driver.get(page.as_uri())
        unreached = person.unreached_by_keyboard()
        assert len(unreached) == 1 and 'id="unreachable"' in unreached[0]
        assert person.driver.execute_script("return document.querySelector('details').open") is False  # left as found
        page.write_text(PAGE.replace('<textarea id="b">', '<textarea id="b" tabindex="-1">'))
        person.driver.get(page.as_uri())  # what a closed <details> holds is counted once Enter opened it
        assert sorted(html[:30] for html in person.unreached_by_keyboard()) == [
            '<button id="unreachable" tabin', '<textarea id="b" tabindex="-1"']
    finally:
        person.quit()


def test_raw_instants_and_field_names_are_found_outside_code(tmp_path):
    from tests.support.browser import FIELD_NAME, RAW_INSTANT, READABLE_TEXT_JS
    page = tmp_path / "raw.html"
    page.write_text('<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
                    '<p>申请时间 2026-12-20T07:19:51.439Z，vat_paid_12m 为 3,000.00 元</p>'
                    '<p title="water_months_3m">有用水账单的月数 <code>water_months_3m</code> 2026-12-20 15:19</p>'
                    '</main></body></html>')
    person = Person("file://")
    try:
        person.driver.get(page.as_uri())
        readable = person.driver.execute_script(READABLE_TEXT_JS)
        assert RAW_INSTANT.findall(readable) == ["2026-12-20T07:19"] and FIELD_NAME.findall(readable) == ["vat_paid_12m"]
    finally:
        person.quit()
