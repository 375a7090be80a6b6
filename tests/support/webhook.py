"""A local webhook receiver on 127.0.0.1: records every JSON body, can fail the first ones."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    """What arrived: ``bodies`` (answered 200) and ``attempts`` (every POST, failed or not)."""

    url: str
    fail_first: int = 0  # answer the first N POSTs with 500
    bodies: list[dict[str, object]] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[str]:
        return [str(body["event"]) for body in self.bodies]


@contextmanager
def receiver(path: str = "/hook", fail_first: int = 0) -> Iterator[Receiver]:
    """Serve POST ``path`` until the block ends; the URL includes ``path``."""
    state: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got = state[0]
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with got.lock:
                got.attempts += 1
                failing = got.attempts <= got.fail_first
                if not failing and self.path == path:
                    got.bodies.append(json.loads(raw))
            status = 500 if failing else 200 if self.path == path else 404
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}", fail_first))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
