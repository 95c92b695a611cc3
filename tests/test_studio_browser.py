"""The studio in a real browser: Playwright driving Debian's chromium.

Skipped where no browser starts, except in CI (CI=true), where that is a failure.
"""

import io
import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from handwriter.sample import WRITING

CHROMIUM = "/usr/bin/chromium"
SVG_NS = "{http://www.w3.org/2000/svg}"
INKML_NS = "{http://www.w3.org/2003/InkML}"


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
    except Exception as e:  # missing package or browser, or a browser that will not start
        message = f"no browser for the studio tests ({CHROMIUM}): {str(e).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def page(browser, studio_url):
    page = browser.new_page(accept_downloads=True, viewport={"width": 1100, "height": 900})
    page.goto(studio_url)
    page.wait_for_function("document.querySelectorAll('#style option').length > 1")
    yield page
    page.close()


def wait_done(page) -> None:
    """Wait for the page to finish writing; an error it shows fails the test with its text."""
    page.wait_for_function("""() => { const m = document.getElementById('message');
        return m.textContent.startsWith('Done') || m.classList.contains('error'); }""",
                           timeout=60_000)
    assert page.text_content("#message").startswith("Done"), page.text_content("#message")


def test_typed_text_is_written_live_and_downloads_in_every_format(page, tmp_path):
    # every change of the page's point count, even several in one task (a fast model's
    # chunks can arrive in one network read): the count before each change, then the last
    page.evaluate("""() => { const svg = document.getElementById('page'); window.seen = [];
        new MutationObserver((records) => records.forEach(
            (r) => window.seen.push(Number(r.oldValue || 0))))
            .observe(svg, {attributes: true, attributeFilter: ['data-points'],
                           attributeOldValue: true}); }""")
    page.fill("#text", "the quick brown fox jumps")
    page.fill("#seed", "3")
    assert page.input_value("#drafts") == "32"  # the server's default
    page.select_option("#drafts", "1")  # the live ink is the page
    with page.expect_request("**/api/write"):
        page.press("#text", "Control+Enter")  # writes, as the button does
    wait_done(page)
    seen = page.evaluate("window.seen") + [int(page.get_attribute("#page", "data-points"))]
    assert len(set(seen)) >= 4 and seen == sorted(seen)  # the page grew chunk by chunk
    assert page.locator("#page path").count() > 0
    assert "seed 3" in page.text_content("#message")
    files = {}
    for kind in ("svg", "png", "gif", "inkml", "plotter.svg", "gcode", "hpgl"):
        with page.expect_download(timeout=90_000) as download:  # a GIF on a busy machine
            page.click(f"[data-export='{kind}']")
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        assert path.name == f"handwriter-the-quick-brown-fox.{kind}"  # named by its words
        files[kind] = path.read_bytes()
    for kind in ("png", "gif"):
        assert Image.open(io.BytesIO(files[kind])).format == kind.upper()
    for kind in ("svg", "plotter.svg"):
        root = ET.fromstring(files[kind])
        assert root.tag == f"{SVG_NS}svg" and len(root.findall(f".//{SVG_NS}path")) > 10
    assert ET.fromstring(files["plotter.svg"]).get("width") == "210mm"  # an A4 sheet
    annotation = ET.fromstring(files["inkml"]).find(f".//{INKML_NS}annotation")
    assert annotation.text == "the quick brown fox jumps"
    gcode = files["gcode"].decode("ascii").splitlines()
    assert all(re.fullmatch(r"G21|G90|M3 S[\d.]+|G4 P[\d.]+|G[01] X[\d.]+ Y[\d.]+( F[\d.]+)?",
                            line) for line in gcode), gcode
    xy = np.array([re.findall(r"[\d.]+", line)[1:3] for line in gcode if " X" in line], float)
    points = int(page.get_attribute("#page", "data-points"))
    assert len(xy) == points + 1  # a move to every point on the page, then home
    assert (xy[:, 0] <= 210).all() and (xy[:, 1] <= 297).all()  # on the sheet
    hpgl = files["hpgl"].decode("ascii")
    assert hpgl.startswith("IN;SP1;PU") and hpgl.rstrip().endswith("PU0,0;SP0;")  # home
    page.select_option("#paper", "A5")  # the plotter's paper is the user's choice
    with page.expect_download() as download:
        page.click("[data-export='plotter.svg']")
    path = tmp_path / "a5.svg"
    download.value.save_as(path)
    assert ET.fromstring(path.read_bytes()).get("width") == "148mm"


def test_from_nothing_shows_a_seed_that_writes_the_same_lines_again(page):
    page.click("[data-panel=sample]")
    page.fill("#lines", "1")
    page.click("#sample-button")
    wait_done(page)
    seed = page.get_attribute("#page", "data-seed")
    first = page.inner_html("#page")
    assert seed.isdigit() and first.count("<path") > 0 and f"seed {seed}" in page.text_content(
        "#message")
    assert page.input_value("#sample-seed") == ""  # so the button writes new lines again
    drafted = page.locator("#drafted li").all_text_contents()  # the text it wrote, shown
    assert page.is_visible("#drafted") and drafted == page.evaluate("page.map((l) => l.text)")
    assert len(drafted) == 1 and drafted[0].strip()
    page.fill("#sample-seed", seed)  # typed back: the same lines
    page.click("#sample-button")
    wait_done(page)
    assert page.inner_html("#page") == first


@pytest.fixture
def slow_pen(monkeypatch):
    """The studio's pen slowed to 8 points per 30 ms, so a test can stop a page mid-way."""
    import time

    from handwriter.studio import live

    draw = live.draw
    monkeypatch.setattr(live, "draw", lambda *a, **k: time.sleep(0.03) or draw(*a, **k))


def stop_after(page, points: int) -> None:
    page.wait_for_function(f"Number(document.getElementById('page').dataset.points) > {points}")
    page.click("#write .stop")
    page.wait_for_function("document.getElementById('message').textContent === 'Stopped.'")


def inked_pixels(page) -> int:
    """Pixels of the drawing pad in the ink's dark blue (the ruled lines are light)."""
    return page.evaluate("""() => { const data = pad.getContext('2d')
        .getImageData(0, 0, pad.width, pad.height).data; let n = 0;
        for (let i = 0; i < data.length; i += 4) n += data[i + 3] > 200 && data[i] < 80;
        return n; }""")


def draw_strokes(page, row: int = 0) -> None:
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 900  # the pad is 900 canvas px wide
    y0 = 50 + 90 * row          # ruled lines are 90 canvas px apart
    for x0 in (40, 140, 240):   # three loops on the ruled line
        page.mouse.move(box["x"] + x0 * scale, box["y"] + y0 * scale)
        page.mouse.down()
        for i in range(1, 25):
            page.mouse.move(box["x"] + (x0 + 3 * i) * scale,
                            box["y"] + (y0 + 12 * (-1) ** (i // 4)) * scale)
        page.mouse.up()


def test_drawn_ink_is_read_saved_as_a_style_and_written_in(page, slow_pen, tmp_path):
    page.click("[data-panel=draw]")
    draw_strokes(page)
    assert inked_pixels(page) > 300
    page.fill("#drawn-text", "")
    page.click("#read")  # an empty line's text is the recogniser's reading
    page.wait_for_function("document.getElementById('message').textContent.includes('reading')")
    assert page.input_value("#drawn-text").strip()
    page.fill("#drawn-text", "mum")
    page.click("#read")  # a line's text given is kept: the reading is only said
    page.wait_for_function("document.getElementById('message').textContent.startsWith('It reads')")
    assert page.input_value("#drawn-text") == "mum"
    with page.expect_download() as download:
        page.click("#drawn-inkml")
    download.value.save_as(tmp_path / "mine.inkml")
    traces = ET.parse(tmp_path / "mine.inkml").getroot().findall(f".//{INKML_NS}trace")
    assert len(traces) == 3
    page.fill("#style-name", "mine")
    page.click("#save-style")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Saved')")
    assert page.input_value("#style") == "s:mine"
    asked = []
    page.once("dialog", lambda d: asked.append(d.message) or d.dismiss())
    page.click("#save-style")  # the same name again: asked, and kept when refused
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Not')")
    assert asked == ["Replace your style “mine” with these lines?"]
    page.once("dialog", lambda d: d.accept())
    page.fill("#drawn-text", "mom")
    with page.expect_request("**/api/styles") as saving:
        page.click("#save-style")
    assert saving.value.post_data_json["replace"] is True
    page.click("[data-panel=write]")
    assert page.is_enabled("#strength")  # a saved style, a real hand: how much of it
    page.fill("#strength", "2")
    assert page.text_content("#strength-value") == "2"
    page.fill("#text", "in my own hand")
    page.fill("#seed", "1")
    with page.expect_request("**/api/write") as sent:
        page.click("#write-button")
    assert sent.value.post_data_json["style"] == "mine"
    assert sent.value.post_data_json["strength"] == 2
    # the tiny random model may never finish a primed line: watch it write, then stop it
    stop_after(page, 16)
    assert page.locator("#page path").count() > 0
    page.select_option("#style", "")
    assert not page.is_enabled("#strength")  # the model's own hand has none


def test_three_drawn_lines_are_adapted_to_then_written_in(browser, style_studio_url):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(style_studio_url)
    page.wait_for_function("document.querySelectorAll('#style option').length > 1")
    page.select_option("#drafts", "1")
    page.fill("#seed", "4")
    page.click("[data-panel=draw]")
    prompts = page.input_value("#drawn-text").split("\n")
    assert len(prompts) >= 3 and all(prompts)  # a sentence to write on each ruled line
    draw_strokes(page, 0)
    page.fill("#style-name", "one")
    page.click("#save-style")  # one line: a style read from it, and word of more lines
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Saved')")
    assert "read from 1 line: write 3 or more" in page.text_content("#message")
    assert page.is_hidden("#adapting")
    for row in (1, 2):
        draw_strokes(page, row)
    page.fill("#style-name", "hand")
    page.evaluate("""() => { window.shown = [];  // the progress bar's value at each status
        new MutationObserver(() => window.shown.push(
            document.getElementById('adapt-progress').value)).observe(
            document.getElementById('adapt-status'),
            {childList: true, characterData: true, subtree: true}); }""")
    with page.expect_request("**/api/adapt") as adapting, \
            page.expect_request("**/api/write") as writing:
        page.click("#save-style")
    sent = adapting.value.post_data_json
    assert [line["text"] for line in sent["lines"]] == prompts[:3]
    assert writing.value.post_data_json["style"] == "hand"  # then a line in the new style
    shown = page.evaluate("window.shown")
    assert page.is_visible("#adapt-progress") and page.evaluate(
        "document.getElementById('adapt-progress').value") == 1
    assert 0 < min(v for v in shown if v) < 1, shown  # progress shown on the way
    assert "Saved style “hand”: adapted in" in page.text_content("#adapt-status")
    assert page.input_value("#style") == "s:hand"
    assert not page.is_enabled("#strength")  # adapted: written as fitted, so no strength
    wait_done(page)
    page.click("[data-panel=write]")
    page.select_option("#style", "s:one")
    assert page.is_enabled("#strength")  # read from its one line: how much of it
    page.select_option("#style", "s:hand")
    assert page.locator("#page path").count() > 0
    page.close()


def test_an_over_long_text_gets_a_clear_message(page):
    assert page.is_visible("#drafts-hint")  # what drafts do, in full on a desktop
    page.fill("#text", "a" * 201)
    assert "over" in page.get_attribute("#count", "class")
    page.click("#write-button")
    message = page.locator("#message.error")
    message.wait_for()
    assert "at most 200" in message.text_content()


def test_lines_sit_on_even_baselines_and_one_that_reaches_low_pushes_the_next_down(page):
    laid = page.evaluate("""() => {
        const lay = (...lines) => {
            resetPage(lines.map(() => 'a'));
            lines.forEach((points, i) => addPoints(i, points));
            settleAll();
            return [...document.getElementById('page').children].map((g) => {
                const box = g.getBoundingClientRect();
                return [Number(g.dataset.baseline), box.top, box.bottom];
            });
        };
        const level = [[0, 0, 0], [1, 0.3, 0], [1, -0.3, 1]];  // baseline at its lowest ink
        const high = [[0, 0, 0], [0, -2, 1], ...level];  // starts 2 line heights above it
        const low = [...Array(20).fill([0.1, 0, 0]), [0, -3, 0], [0, 3, 1]];  // a long tail
        return [lay(level, level, level), lay(level, high, level), lay(level, low, level, level)];
    }""")
    evenly, started_high, reaching_low = laid
    bottoms = [bottom for _, _, bottom in evenly]
    assert bottoms[1] - bottoms[0] > 0
    assert bottoms[2] - bottoms[1] == pytest.approx(bottoms[1] - bottoms[0])
    # placed by its baseline, not by where the pen started: level with the lines around it
    assert [bottom for _, _, bottom in started_high] == pytest.approx(bottoms)
    # the third line goes below the second's tail, the fourth a line below the third
    assert reaching_low[2][1] > reaching_low[1][2]
    assert reaching_low[3][0] - reaching_low[2][0] == reaching_low[1][0] - reaching_low[0][0]
    assert reaching_low[2][0] - reaching_low[1][0] > reaching_low[1][0] - reaching_low[0][0]


def test_a_line_that_strays_right_widens_the_page_only_once_written(page):
    widths = page.evaluate("""() => {
        const width = () => document.getElementById('page').viewBox.baseVal.width;
        resetPage(['a', 'b']);
        addPoints(0, [[0, 0, 0], [40, 0, 0], [0, 0, 1]]);  // 40 line heights: far past the edge
        const drafting = width();
        settleAll();
        return [drafting, width(), 40 * SCALE];
    }""")
    drafting, written, stray = widths
    assert drafting == 900  # a draft the reader may not pick does not zoom the page out
    assert written > stray  # the written line is shown whole


def test_every_download_works_after_a_stop(page, slow_pen, tmp_path):
    page.fill("#text", "the quick brown fox jumps over the lazy dog " * 3)
    page.click("#write-button")
    stop_after(page, 16)
    written = page.evaluate("page.map((line) => line.strokes.length)")
    assert len(written) > 1 and written[-1] == 0  # stopped with lines left unwritten
    for kind in ("svg", "png", "gif", "inkml", "plotter.svg", "gcode", "hpgl"):
        with page.expect_download(timeout=90_000) as download:  # a GIF on a busy machine
            page.click(f"[data-export='{kind}']")
        path = tmp_path / f"stopped.{kind}"
        download.value.save_as(path)
        assert path.stat().st_size > 100, kind
        assert not page.locator("#message.error").count(), page.text_content("#message")


def test_stop_with_drafts_ends_the_generation_without_an_error(page, slow_pen, caplog):
    page.fill("#text", "the quick brown fox jumps over the lazy dog " * 3)
    page.select_option("#drafts", "4")
    page.click("#write-button")
    stop_after(page, 16)
    page.wait_for_timeout(500)  # the server notices the closed stream and ends the page
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert not errors, errors
    page.click("#write-button")  # and the studio writes on
    wait_done(page)


def test_pasted_text_is_written_with_a_notice_and_an_emoji_named(page):
    page.fill("#text", "café\u00a0déjà vu…")
    page.fill("#seed", "2")
    page.click("#write-button")
    wait_done(page)
    assert page.evaluate("page.map((line) => line.text)") == ["cafe deja vu..."]
    assert "Note: the studio wrote é as 'e'" in page.text_content("#message")
    page.fill("#text", "ab 😀 ab")
    page.click("#write-button")
    page.locator("#message.error").wait_for()
    message = page.text_content("#message")
    assert "cannot write '😀' (U+1F600)" in message and len(message) < 120, message
    page.click("[data-panel=draw]")  # an error about the Write tab goes when one leaves it
    assert page.text_content("#message") == ""
    page.click("[data-panel=write]")


def test_the_counter_counts_the_lines_the_server_makes(page):
    page.fill("#text", "the quick brown fox jumps over the lazy dog " * 4 + "\nand so on")
    page.click("#write-button")
    wait_done(page)
    lines = len(page.evaluate("page.map((l) => l.text)"))
    assert f"{lines} / 12 lines" in page.text_content("#count") and lines > 4
    over = "document.getElementById('count').classList.contains('over')"
    assert not page.evaluate(over)
    page.fill("#text", "ab\n" * 13)  # 39 characters, 13 lines: over, and said so
    assert "13 / 12 lines" in page.text_content("#count") and page.evaluate(over)
    page.click("#write-button")
    page.locator("#message.error").wait_for()
    assert "at most 12" in page.text_content("#message")
    assert page.locator("#page path").count() > 0  # a refused text leaves the page as it was


def test_a_style_saved_without_a_name_takes_the_name_shown(page):
    page.click("[data-panel=draw]")
    draw_strokes(page)
    page.fill("#drawn-text", "mum")
    assert page.input_value("#style-name") == ""
    page.click("#save-style")
    placeholder = page.get_attribute("#style-name", "placeholder")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Saved')")
    assert placeholder in page.text_content("#message")
    assert page.input_value("#style") == f"s:{placeholder}"
    page.once("dialog", lambda d: d.accept())  # the style picked under Write, after asking
    page.click("#remove-style")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Removed')")
    asked = []
    page.on("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.fill("#style-name", "nosuch")  # a style that is not there: said, nothing asked
    page.click("#remove-style")
    assert page.text_content("#message.error").startswith("There is no saved style “nosuch”")
    assert not asked


def test_tabs_answer_the_arrow_keys(page):
    page.focus("[data-panel=write]")
    shown = []
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft", "End", "Home"):
        page.keyboard.press(key)
        shown.append(page.evaluate("""() => [document.activeElement.dataset.panel,
            ...[...document.querySelectorAll('[role=tabpanel]')].filter((p) => !p.hidden)
                .map((p) => p.id)]"""))
    assert shown == [["sample", "sample"], ["draw", "draw"], ["write", "write"],
                     ["draw", "draw"], ["draw", "draw"], ["write", "write"]]
    tabbable = page.eval_on_selector_all("[role=tab]", "(tabs) => tabs.map((t) => t.tabIndex)")
    assert tabbable == [0, -1, -1]  # one tab stop for the tab list


def test_the_page_and_the_pad_have_accessible_names_and_nothing_is_missing(browser, studio_url):
    page = browser.new_page()
    failures = []
    page.on("response", lambda r: r.status >= 400 and failures.append((r.url, r.status)))
    page.on("requestfailed", lambda r: failures.append((r.url, r.failure)))
    with page.expect_response("**/favicon.svg") as icon:
        page.goto(studio_url)
    assert icon.value.status == 200
    page.click("[data-panel=draw]")
    assert page.get_by_role("img", name="Drawing pad").count() == 1
    page.click("[data-panel=write]")
    page.fill("#text", "ab cd")
    for _ in range(6):  # finished streams close cleanly, however soon the next one starts
        page.click("#write-button")
        wait_done(page)
    assert page.get_by_role("img", name="Handwriting: ab cd").count() == 1
    assert not failures, failures
    page.close()


def test_on_a_phone_the_result_is_in_view_and_large_enough(browser, studio_url):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True,
                            has_touch=True, device_scale_factor=3)
    page.goto(studio_url)
    page.wait_for_function("document.querySelectorAll('#style option').length > 1")
    page.fill("#text", "the quick brown fox jumps over the lazy dog")
    page.fill("#seed", "5")
    page.click("#write-button")
    wait_done(page)
    box = page.evaluate("""() => { const svg = document.getElementById('page'),
        box = svg.getBoundingClientRect(), view = svg.viewBox.baseVal;
        return {top: box.top, bottom: box.bottom, height: innerHeight,
                unit: SCALE * box.width / view.width}; }""")
    assert box["top"] >= 0 and box["bottom"] <= box["height"], box  # in view after Write
    assert box["unit"] >= 12, box  # screen px per line height of ink
    page.tap("[data-panel=draw]")
    row = page.evaluate("PAD_ROW * pad.getBoundingClientRect().width / padSize.width")
    assert 80 <= row <= 100  # the pad's ruled lines far enough apart for a finger
    # sharp on the phone's screen: a canvas pixel for each of its device pixels
    assert page.evaluate("pad.width") == 3 * page.evaluate("padSize.width")
    draw_strokes(page)
    assert inked_pixels(page) > 300 * 9  # the strokes show where they were drawn
    right = page.evaluate("Math.max(...drawn.flat().map((p) => p[0]))")
    page.set_viewport_size({"width": 844, "height": 390})  # turned sideways: a wider pad
    page.wait_for_function("padSize.width > 600")
    assert page.evaluate("Math.max(...drawn.flat().map((p) => p[0]))") == right  # ink kept
    assert inked_pixels(page) > 300 * 9
    page.close()


def test_a_newcomer_walks_through_the_studio_on_a_phone(browser, studio_url, slow_pen,
                                                         tmp_path):
    """Write, stop, every download after the stop, from nothing, draw a hand: at phone size,
    with no error shown and no request failing on the way."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True,
                            has_touch=True, accept_downloads=True)
    failures = []
    page.on("response", lambda r: r.status >= 400 and failures.append((r.url, r.status)))
    page.on("requestfailed", lambda r: "/api/write" not in r.url  # Stop aborts its stream
            and failures.append((r.url, r.failure)))
    page.goto(studio_url)
    page.wait_for_function("document.querySelectorAll('#style option').length > 1")
    page.fill("#text", "dear ann thank you for the lovely card")
    page.tap("#write-button")
    wait_done(page)
    page.fill("#text", "the quick brown fox jumps over the lazy dog " * 3)
    page.tap("#write-button")
    stop_after(page, 120)  # enough ink that every file holds some
    for kind in ("svg", "png", "gif", "inkml", "plotter.svg", "gcode", "hpgl"):
        with page.expect_download(timeout=90_000) as download:  # a GIF on a busy machine
            page.tap(f"[data-export='{kind}']")
        download.value.save_as(tmp_path / f"walk.{kind}")
        assert (tmp_path / f"walk.{kind}").stat().st_size > 100
    page.tap("[data-panel=sample]")
    page.fill("#lines", "2")
    page.tap("#sample-button")
    wait_done(page)
    assert len(page.locator("#drafted li").all_text_contents()) == 2
    page.tap("[data-panel=draw]")
    draw_strokes(page)
    page.tap("#read")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('It reads')")
    page.fill("#drawn-text", "mum")
    page.tap("#save-style")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Saved')")
    page.once("dialog", lambda d: d.accept())
    page.tap("#remove-style")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Removed')")
    assert not page.locator("#message.error").count() and not failures, failures
    page.tap("[data-panel=write]")  # what drafts do is said on the page, not in a tooltip
    assert "keeps the one it reads best" in page.text_content("#drafts-hint")
    assert f"own, {WRITING.style_drafts} times as many" in page.text_content("#drafts-hint")
    assert not page.is_visible("#drafts-hint")  # on a phone, folded under its question
    page.tap("#drafts-help summary")
    assert page.is_visible("#drafts-hint")
    page.close()


def test_leaving_asks_first_while_drawn_ink_is_unsaved(browser, studio_url):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.accept()))
    page.goto(studio_url)
    page.wait_for_function("document.querySelectorAll('#style option').length > 1")
    page.reload()  # nothing drawn: nothing to ask
    page.click("[data-panel=draw]")
    draw_strokes(page)
    page.reload()
    assert asked == ["beforeunload"]
    page.wait_for_function("document.querySelectorAll('#style option').length > 1")
    page.click("[data-panel=draw]")
    draw_strokes(page)
    page.fill("#drawn-text", "abc")
    page.fill("#style-name", "kept")
    page.click("#save-style")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Saved')")
    page.reload()  # saved: nothing is lost
    assert asked == ["beforeunload"]
    page.evaluate("fetch('/api/styles/kept', {method: 'DELETE'})")  # for the tests after
    page.close()
