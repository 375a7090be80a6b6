"""HAProxy's ``show stat`` CSV: one row per server, with the counters a watch reads."""

from __future__ import annotations

import csv
from dataclasses import dataclass

_COLUMNS = ("pxname", "svname", "status", "weight", "scur", "stot", "addr")
_COUNTERS = ("hrsp_5xx", "econ", "eresp")


@dataclass(frozen=True)
class ServerStat:
    """One server row of ``show stat``."""

    backend: str
    server: str
    status: str  # UP, DOWN, MAINT, "no check", ...
    weight: int
    sessions: int  # scur
    total: int  # stot: sessions since the worker started
    address: str  # addr column, e.g. "127.0.0.1:8081"
    errors_5xx: int = 0  # hrsp_5xx: answers with a 5xx status
    connect_errors: int = 0  # econ: connections that failed
    response_errors: int = 0  # eresp: responses that failed (aborted, invalid)

    @property
    def failed(self) -> int:
        """Answers that failed the client: 5xx, failed connections and responses."""
        return self.errors_5xx + self.connect_errors + self.response_errors


def _int(value: str) -> int:
    """A CSV cell as an int, 0 when empty."""
    return int(value) if value.isdigit() else 0


def parse(answer: str) -> list[ServerStat]:
    """The server rows (not FRONTEND nor BACKEND) of a ``show stat`` answer (``# `` first)."""
    rows = csv.DictReader(answer[2:].splitlines())
    out = []
    for r in rows:
        if r.get("type") != "2":
            continue
        c = [r.get(k) or "" for k in _COLUMNS]
        n = [_int(r.get(k) or "") for k in _COUNTERS]
        out.append(ServerStat(c[0], c[1], c[2], _int(c[3]), _int(c[4]), _int(c[5]), c[6], *n))
    return out
