"""The page shell, the stylesheet and the one script: every asset lives inside the site."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

STYLE = """\
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 20px;display:flex;gap:20px;
align-items:center}
header a{color:#fff;text-decoration:none}header b{margin-right:auto}
main{padding:16px 20px}
h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #d0d7de;padding:6px 8px;vertical-align:top;text-align:left}
th{background:#eaeef2}
td.cell{min-width:150px}td.warn{background:#fff8c5}
.version{font-weight:600;font-family:ui-monospace,monospace}
.since,.small{color:#57606a;font-size:12px}
ul.gates{margin:4px 0 0;padding-left:16px;font-size:12px}
.health-healthy{color:#1a7f37}.health-unknown{color:#57606a}
.health-bad{color:#cf222e;font-weight:600}
.weights{font-size:12px;color:#0969da}
tr.rollback td{background:#ffebe9}tr.reject td{background:#fff1e5}
.mark{font-size:11px;border-radius:8px;padding:0 6px;background:#cf222e;color:#fff}
nav.pages{margin:12px 0;display:flex;gap:8px;flex-wrap:wrap}
input#filter{padding:6px 8px;width:280px;margin-bottom:12px}
svg.tree{background:#fff;border:1px solid #d0d7de;margin:4px 0 12px}
svg.tree rect{fill:#ddf4ff;stroke:#0969da}svg.tree line{stroke:#57606a;stroke-width:1.5}
svg.tree text{font:12px system-ui,sans-serif;fill:#1f2328}
svg.tree text.edge{fill:#8250df;font-size:11px}
"""

# The board's filter: rows whose service name does not contain the text are hidden.
SCRIPT = """\
(function () {
  var input = document.getElementById("filter");
  if (!input) { return; }
  var rows = document.querySelectorAll("tr[data-service]");
  function apply() {
    var text = input.value.trim().toLowerCase();
    for (var i = 0; i < rows.length; i++) {
      var name = rows[i].getAttribute("data-service");
      rows[i].hidden = text !== "" && name.indexOf(text) < 0;
    }
  }
  input.addEventListener("input", apply);
  apply();
})();
"""

ASSETS = {"assets/style.css": STYLE, "assets/board.js": SCRIPT}


def esc(value: object) -> str:
    """Text (or an attribute value) safe inside HTML: every name and version is untrusted."""
    return escape(str(value), quote=True)


def page(title: str, body: str, depth: int = 0, script: bool = False) -> str:
    """A whole HTML page; ``depth`` is how many folders below the site's root it sits."""
    up = "../" * depth
    tail = f'<script src="{up}assets/board.js"></script>\n' if script else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)} · pipeline-kit</title>\n"
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{up}assets/style.css">\n'
        "</head>\n<body>\n"
        f'<header><b>pipeline-kit</b><a href="{up}index.html">board</a>'
        f'<a href="{up}timeline.html">timeline</a><a href="{up}metrics.html">metrics</a>'
        "</header>\n"
        f"<main>\n<h1>{esc(title)}</h1>\n{body}</main>\n{tail}</body>\n</html>\n"
    )


def table(headers: Iterable[str], rows: Iterable[str], css: str = "") -> str:
    """A table from escaped header names and ready-made ``<tr>`` rows."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    klass = f' class="{esc(css)}"' if css else ""
    body = "".join(rows)
    return f"<table{klass}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def row(cells: Iterable[str], attrs: str = "") -> str:
    """A ``<tr>`` of cells that are already HTML (escape values before)."""
    return f"<tr{attrs}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"
