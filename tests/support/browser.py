"""Headless Chromium for rendering checks: screenshots and layout measurements of a page.

The page under test carries no script; measuring happens on a copy with one small script
appended, whose result `--dump-dom` prints. Under CI=true a missing browser fails.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.support.procs import unavailable

INSTALL = "apt-get install chromium (or run `make test`)"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Nothing but the file itself may load: a request elsewhere would fail the page.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

# Runs in the copy only. Records the page size, every section and chart with its box,
# and every element reaching past the viewport's right edge.
MEASURE = """
<script>
(function () {
  var vw = document.documentElement.clientWidth;
  function box(el) { var r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top + window.scrollY, width: r.width,
      height: r.height}; }
  var out = {viewport: vw, scrollWidth: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight, sections: {}, charts: [], overflow: []};
  document.querySelectorAll('[data-section]').forEach(function (s) {
    out.sections[s.getAttribute('data-section')] = box(s); });
  document.querySelectorAll('svg.chart').forEach(function (c) {
    var s = c.closest('[data-section]');
    var b = box(c); b.kind = c.getAttribute('data-chart');
    b.section = s ? s.getAttribute('data-section') : null; out.charts.push(b); });
  document.querySelectorAll('body *').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > vw + 0.5) {
      var cls = typeof el.className === 'string' && el.className ? '.' + el.className : '';
      out.overflow.push(el.tagName.toLowerCase() + cls + ' right=' + r.right); } });
  var pre = document.createElement('pre'); pre.id = 'opslens-measure';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>
"""


def chromium() -> str:
    """Path of the Chromium binary; fail under CI, skip elsewhere, when it is missing."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = f"chromium not found: {INSTALL}"
    unavailable(message)


def _run(args: list[str], timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="opslens-chromium-") as profile:
        argv = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def measure(page: Path, width: int, height: int = 900) -> dict[str, Any]:
    """Lay `page` out at `width` CSS pixels and return what the measuring script saw."""
    copy = page.with_name(page.stem + ".measure.html")
    text = page.read_text(encoding="utf-8")
    copy.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    try:
        done = _run([f"--window-size={width},{height}", "--dump-dom", copy.as_uri()])
    finally:
        copy.unlink()
    found = re.search(r'<pre id="opslens-measure">(.*?)</pre>', done.stdout, re.S)
    if found is None:
        raise RuntimeError(f"the measuring script did not run:\n{done.stdout[-2000:]}")
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def screenshot(page: Path, png: Path, width: int, height: int) -> Path:
    """Save a PNG of the first `height` pixels of `page` laid out at `width`."""
    _run([f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()])
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png
