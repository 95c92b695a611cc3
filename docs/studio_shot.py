"""docs/studio.png and docs/studio_phone.png: the studio after writing a line, as a newcomer
first sees it on a desktop and on a phone (390 x 844).

    python docs/studio_shot.py     # needs Debian's chromium and Playwright (`.[test]`)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handwriter = Path(sys.executable).parent / "handwriter"  # the installed command
    server = subprocess.Popen([handwriter, "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            for name, size in (("studio.png", {"width": 1100, "height": 760}),
                               ("studio_phone.png", {"width": 390, "height": 844})):
                page = browser.new_page(viewport=size, is_mobile=size["width"] < 600)
                for _ in range(200):  # the models load in a few seconds
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except Exception:
                        time.sleep(0.3)
                page.wait_for_function("document.querySelectorAll('#style option').length > 1")
                page.fill("#text", "The quick brown fox jumps over the lazy dog")
                page.fill("#seed", "1")
                page.click("#write-button")
                page.wait_for_function("() => document.getElementById('message')"
                                       ".textContent.startsWith('Done')", timeout=120_000)
                page.screenshot(path=str(HERE / name))
                print(HERE / name)
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
