"""Driving the inspector page in a real browser: Debian's Chromium through Playwright for Python.

No browser is ever downloaded (no ``playwright install``): Playwright's Python package brings its
driver, and the browser is the ``chromium`` that ``.ci/run`` installs from Debian's packages.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What pixel fraction two screenshots may differ in and still count as the same picture (a few
#: clock times and durations in the rows); above it the file in docs/ is rewritten.
SAME_PICTURE = 0.015


def chromium_executable() -> str | None:
    """Debian's Chromium (``apt-get install chromium``), or None when it is not installed."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


# -- screenshots that do not churn -------------------------------------------------------------

_DIFF_JS = """async ([a, b]) => {
  const load = async (data) => {
    const img = new Image();
    img.src = "data:image/png;base64," + data;
    await img.decode();
    return img;
  };
  const [x, y] = [await load(a), await load(b)];
  if (x.width !== y.width || x.height !== y.height) return 1;
  const pixels = (img) => {
    const c = new OffscreenCanvas(img.width, img.height).getContext("2d");
    c.drawImage(img, 0, 0);
    return c.getImageData(0, 0, img.width, img.height).data;
  };
  const [p, q] = [pixels(x), pixels(y)];
  let differ = 0;
  for (let i = 0; i < p.length; i += 4) {
    if (p[i] !== q[i] || p[i + 1] !== q[i + 1] || p[i + 2] !== q[i + 2]) differ++;
  }
  return differ / (p.length / 4);
}"""


def pixel_difference(browser: Any, old: bytes, new: bytes) -> float:
    """The fraction of pixels that differ between two PNGs (1.0 when their sizes differ), measured
    on a blank page of ``browser`` (no Pillow needed)."""
    page = browser.new_page()
    try:
        return float(page.evaluate(_DIFF_JS, [base64.b64encode(old).decode(), base64.b64encode(new).decode()]))
    finally:
        page.close()


def keep_screenshot(browser: Any, path: Path, png: bytes) -> bool:
    """Write ``png`` to ``path`` unless the file there already shows the same picture (differing
    in at most ``SAME_PICTURE`` of its pixels: the clock times and durations of a new run).
    True when the file was written."""
    if path.exists() and pixel_difference(browser, path.read_bytes(), png) <= SAME_PICTURE:
        return False
    path.write_bytes(png)
    return True


# -- "copy as curl", replayed without curl -----------------------------------------------------


@dataclass
class CurlCommand:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


def parse_curl(text: str, env: dict[str, str]) -> CurlCommand:
    """The request a ``curl ...`` command line sends (the options "copy as curl" writes: ``-X``,
    ``-H``, ``-d``/``--data*``, ``--url``), with ``$NAME``/``${NAME}`` taken from ``env`` as a
    shell would inside double quotes."""
    words = shlex.split(text.replace("\\\n", " "))
    assert words and words[0] == "curl", f"not a curl command: {text!r}"

    def expand(word: str) -> str:
        for name, value in env.items():
            word = word.replace("${" + name + "}", value).replace("$" + name, value)
        return word

    command = CurlCommand(method="", url="")
    it = iter(expand(w) for w in words[1:])
    for word in it:
        if word in ("-X", "--request"):
            command.method = next(it)
        elif word in ("-H", "--header"):
            name, _, value = next(it).partition(":")
            command.headers[name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-raw", "--data-binary"):
            command.body = next(it)
        elif word == "--url":
            command.url = next(it)
        elif word.startswith("http://") or word.startswith("https://"):
            command.url = word
        elif word.startswith("-"):
            continue  # -s, -N, --compressed ...: no value
    command.method = command.method or ("POST" if command.body is not None else "GET")
    assert command.url, f"no URL in {text!r}"
    return command
