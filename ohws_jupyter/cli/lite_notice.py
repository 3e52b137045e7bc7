"""What the JupyterLite site says when it is opened as a file instead of served.

A browser loads a page from ``file://`` but refuses the modules, workers and
WebAssembly that JupyterLite then fetches (they count as cross-origin), so
the page stays blank and only the developer console says why. Every
``index.html`` of the site gets a small inline script, which a browser does run
from a file: when the page's address starts with ``file:``, it shows a box
that says how to serve the folder instead. Served over HTTP, it does nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["NOTICE_ID", "add_file_notice", "how_to_serve"]

#: The ``id`` of the script and of the box it shows.
NOTICE_ID = "ohws-file-notice"

_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)

# Built from text nodes only (no innerHTML): the folder's path comes from the
# address bar. The site root is what the page's jupyter-config-data names.
_SCRIPT = """\
<script id="__ID__">
(function () {
  if (window.location.protocol !== "file:") return;
  function show() {
    if (document.getElementById("__ID__-box")) return;
    var config = document.getElementById("jupyter-config-data");
    var root = (config && config.getAttribute("data-jupyter-lite-root")) || ".";
    var folder = decodeURIComponent(new URL(root + "/", window.location.href).pathname);
    var box = document.createElement("div");
    box.id = "__ID__-box";
    box.setAttribute("role", "alert");
    box.style.cssText = "position:fixed;z-index:2147483647;top:0;left:0;right:0;" +
      "padding:16px 24px;background:#fff3cd;color:#3d2e00;border-bottom:2px solid #c69500;" +
      "font:15px/1.5 system-ui,sans-serif;white-space:pre-wrap";
    var lines = [
      "This JupyterLite site must be served by a web server: opened as a file, the " +
        "browser blocks what the page loads, and it stays blank.",
      "Serve this folder on 127.0.0.1, for example:",
      "    python3 -m http.server 8000 --bind 127.0.0.1 --directory '" + folder + "'",
      "then open http://127.0.0.1:8000/lab/index.html",
      "(python -m ohws_jupyter lite --serve builds the site and serves it in one step.)"
    ];
    for (var i = 0; i < lines.length; i++) {
      var line = document.createElement(i === 2 ? "code" : "div");
      line.style.display = "block";
      line.textContent = lines[i];
      box.appendChild(line);
    }
    (document.body || document.documentElement).appendChild(box);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", show);
  } else {
    show();
  }
})();
</script>
""".replace("__ID__", NOTICE_ID)


def add_file_notice(site: Path) -> list[Path]:
    """Put the notice script first in the ``<head>`` of every ``index.html`` of ``site``.

    Returns the pages changed, in path order. A page with no ``<head>`` is
    left as it is.
    """
    changed = []
    for page in sorted(site.rglob("index.html")):
        text = page.read_text("utf-8")
        if NOTICE_ID in text:
            continue
        at = _head_end(text)
        if at is None:
            continue
        page.write_text(text[:at] + "\n" + _SCRIPT + text[at:], "utf-8")
        changed.append(page)
    return changed


def _head_end(text: str) -> int | None:
    """Where the first ``<head>`` tag outside an HTML comment ends, if any."""
    for found in _HEAD.finditer(text):
        before = text[: found.start()]
        if before.rfind("<!--") <= before.rfind("-->"):
            return found.end()
    return None


def how_to_serve(site: Path) -> str:
    """What ``lite`` prints after a build without ``--serve``."""
    return (
        f"open the site through a web server, not as a file (a browser shows a blank page "
        f"from file://): python -m ohws_jupyter lite --serve builds and serves it on "
        f"127.0.0.1, or serve the folder as it is: python3 -m http.server 8000 --bind "
        f"127.0.0.1 --directory {site} and open http://127.0.0.1:8000/lab/index.html"
    )
