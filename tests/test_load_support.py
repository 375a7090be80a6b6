"""Tests of the load generator in ``tests.support.load`` against a local threaded HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.load import Load, Sample, failures, rate, share, since, summary


class _Server(ThreadingHTTPServer):
    """Answers every GET with ``body``; set ``body`` to switch versions."""

    daemon_threads = True
    request_queue_size = 128
    body = "a"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        payload = f"{self.server.body}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Running:
    """A started ``_Server`` in a thread, with its URL."""

    def __init__(self) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/version"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


@pytest.fixture
def server() -> Iterator[_Running]:
    running = _Running()
    yield running
    running.close()


def test_rate_is_held_and_a_switch_is_visible(server: _Running) -> None:
    load = Load(server.url, rate=250, max_seconds=2.0).start()
    time.sleep(1.0)
    server.server.body = "b"
    switched_at = time.monotonic()
    assert load.wait(timeout=5.0), "the load did not stop by itself after max_seconds"
    samples = load.stop()
    print(summary(samples))

    assert rate(samples) >= 200, summary(samples)
    assert 400 <= len(samples) <= 501, summary(samples)
    assert failures(samples) == [], summary(samples)
    assert samples == sorted(samples, key=lambda s: s.start)
    assert samples[-1].start - samples[0].start < 2.1
    before = [s for s in samples if s.start + s.elapsed < switched_at - 0.01]
    after = since(samples, switched_at)
    assert len(before) > 150 and len(after) > 150, summary(samples)
    assert share(before, "a") == 1.0, summary(before)
    assert share(after, "b") == 1.0, summary(after)
    assert 0.3 < share(samples, "b") < 0.7, summary(samples)
    assert {s.status for s in samples} == {200}


def test_max_requests_stops_it_by_itself(server: _Running) -> None:
    with Load(server.url, rate=1000, max_requests=60, max_seconds=30) as load:
        assert load.wait(timeout=5.0), "the load did not stop by itself after max_requests"
        assert not load.running
    samples = load.samples
    assert len(samples) == 60, summary(samples)
    assert failures(samples) == [], summary(samples)
    assert samples[-1].start - samples[0].start < 1.0, summary(samples)


def test_stop_ends_it_early_and_is_idempotent(server: _Running) -> None:
    load = Load(server.url, rate=250, max_requests=10_000, max_seconds=60).start()
    time.sleep(0.2)
    first = load.stop()
    assert not load.running
    # Ended by stop(), long before its own bounds: some requests, far fewer than allowed.
    assert 0 < len(first) < 1_000, summary(first)
    assert load.stop() == first
    with pytest.raises(RuntimeError):
        load.start()


def test_a_server_that_goes_away_yields_recorded_failures(server: _Running) -> None:
    load = Load(server.url, rate=250, max_seconds=1.0, timeout=1.0).start()
    time.sleep(0.4)
    server.close()
    closed_at = time.monotonic()
    assert load.wait(timeout=5.0)
    samples = load.stop()

    answered = [s for s in samples if s.error is None]
    assert answered and share(answered, "a") == 1.0, summary(samples)
    late = since(samples, closed_at)
    assert late and failures(late) == late, summary(late)
    assert all(s.status is None and s.body is None for s in late)
    assert any(s.error and "ConnectionRefusedError" in s.error for s in late), summary(late)
    assert all(s.error and "\n" not in s.error for s in late)
    assert "ConnectionRefusedError x" in summary(samples)


def _sample(start: float, status: int | None = 200, body: str | None = "a") -> Sample:
    error = "ConnectionRefusedError: [Errno 111] Connection refused" if status is None else None
    return Sample(start=start, elapsed=0.002, status=status, body=body, error=error)


def test_helpers_on_fixed_samples() -> None:
    samples = [
        _sample(0.0),
        _sample(0.01),
        _sample(0.02, status=None, body=None),
        _sample(0.03, status=503, body="down"),
        _sample(0.04, body="b"),
    ]
    assert failures(samples) == samples[2:4]
    assert since(samples, 0.03) == samples[3:]
    assert share(samples, "a") == 0.5
    assert share(samples, "b") == 0.25
    assert share(samples[2:3], "a") == 0.0
    assert rate(samples) == pytest.approx(100.0)
    assert rate(samples[:1]) == 0.0
    line = summary(samples)
    assert "\n" not in line
    assert line.startswith("5 requests at 100.0/s, 2 failures")
    for part in ("ConnectionRefusedError x1", "HTTP 503 x1", "'a' x2", "p50 2.0 ms", "p99 2.0 ms"):
        assert part in line, line
    assert summary([]) == "0 requests"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        Load("ftp://127.0.0.1/")
    with pytest.raises(ValueError):
        Load("http://127.0.0.1:1/", rate=0)
