"""One pipeline-kit command in a fresh interpreter, timed from inside.

    python benchmarks/inproc.py OUT record|preload MODULES -- ARGS...

The timed call is ``pipeline_kit.cli.main.main(ARGS)``: the command's own work, parsing and
rendering included, without the interpreter's start-up and exit. With ``preload`` every
module named in MODULES (one a line) is imported first and that time is reported apart, so
the call pays no import either; ``record`` runs the command as it comes and adds the
modules the run ended with to MODULES. OUT receives ``{"code", "imports", "main"}`` (s).

Run as a script (not ``-m``) so that only the standard library is imported before the
preload; the parent side is ``benchmarks.timing.run_inproc``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import time
from pathlib import Path


def preload(modules: Path) -> float:
    """Import every module named in ``modules``; the seconds it took."""
    began = time.perf_counter()
    for name in modules.read_text().split():
        if name == "__main__" or name.endswith(".__main__"):
            continue  # running a package's __main__ would run its program
        with contextlib.suppress(Exception):  # e.g. a platform's module, imported elsewhere
            importlib.import_module(name)
    return time.perf_counter() - began


def main(argv: list[str]) -> int:
    out, mode, modules, separator, *args = argv
    if separator != "--" or mode not in ("record", "preload"):
        sys.exit(__doc__)
    imports = preload(Path(modules)) if mode == "preload" else 0.0
    from pipeline_kit.cli.main import main as cli_main

    began = time.perf_counter()
    code = cli_main(args)
    elapsed = time.perf_counter() - began
    if mode == "record":
        known = Path(modules).read_text().split() if Path(modules).exists() else []
        names = dict.fromkeys([*known, *sys.modules])
        Path(modules).write_text("\n".join(names) + "\n")
    Path(out).write_text(json.dumps({"code": code, "imports": imports, "main": elapsed}))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
