"""A bounded HTTP load generator for zero-downtime tests (stdlib only).

``Load`` sends GET requests to one URL at a steady ``rate`` from a few worker threads that
share one schedule (request ``i`` is due at ``t0 + i / rate``; a worker takes the next slot
and sleeps until it is due, or goes at once when behind), so a slow request delays no other
and the achieved rate holds. Every request opens a new TCP connection (``Connection:
close``), so a refused connection during a switch shows up as an error. The load stops by
itself after ``max_requests`` requests or ``max_seconds`` seconds, whichever comes first;
``stop()`` ends it earlier. Worker threads never raise: every outcome is a ``Sample``.

Usage::

    from tests.support.load import Load, failures, share, since, summary

    with Load(f"http://127.0.0.1:{port}/version", rate=250, max_seconds=60) as load:
        time.sleep(0.5)
        switched_at = time.monotonic()
        deploy("1.3.0")  # the zero-downtime switch under test
        time.sleep(0.5)
    samples = load.samples
    assert not failures(samples), summary(samples)
    assert share(since(samples, switched_at + 5), "webapp 1.3.0") == 1.0, summary(samples)
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["Load", "Sample", "failures", "rate", "share", "since", "summary"]


@dataclass(frozen=True)
class Sample:
    """The outcome of one request."""

    start: float  # time.monotonic() when the request began
    elapsed: float  # seconds
    status: int | None
    body: str | None  # the response body, stripped
    error: str | None  # None when a response came back; else a one-line description


class Load:
    """GET ``url`` at ``rate`` requests/s from ``workers`` threads until a limit or ``stop()``."""

    def __init__(
        self,
        url: str,
        rate: float = 250.0,
        max_requests: int = 30_000,
        max_seconds: float = 120.0,
        workers: int = 8,
        timeout: float = 5.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if rate <= 0 or max_requests < 0 or max_seconds < 0 or workers < 1 or timeout <= 0:
            raise ValueError("rate, workers and timeout must be positive; limits non-negative")
        self.url = url
        self.rate = float(rate)
        self.max_requests = max_requests
        self.max_seconds = float(max_seconds)
        self.workers = workers
        self.timeout = float(timeout)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._samples: list[Sample] = []
        self._issued = 0
        self._t0 = 0.0
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Load:
        """Start the workers (once); returns ``self``."""
        with self._lock:
            if self._started:
                raise RuntimeError("this Load was already started")
            self._started = True
            self._t0 = time.monotonic()
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"load-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the load has ended (a limit or ``stop()``); True when it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not self.running

    @property
    def running(self) -> bool:
        """True while any worker is still sending."""
        return any(thread.is_alive() for thread in self._threads)

    def stop(self) -> list[Sample]:
        """Stop (idempotent), wait for requests in flight and return all samples by start."""
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        return self.samples

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def samples(self) -> list[Sample]:
        """A snapshot of the samples so far, sorted by start."""
        with self._lock:
            snapshot = list(self._samples)
        snapshot.sort(key=lambda s: s.start)
        return snapshot

    # -- workers ------------------------------------------------------------------------------

    def _next_due(self) -> float | None:
        """Reserve the next slot of the shared schedule; None when a limit is reached."""
        with self._lock:
            i = self._issued
            if i >= self.max_requests:
                return None
            offset = i / self.rate
            if offset >= self.max_seconds or time.monotonic() - self._t0 >= self.max_seconds:
                return None
            self._issued = i + 1
            return self._t0 + offset

    def _work(self) -> None:
        while not self._stopping.is_set():
            due = self._next_due()
            if due is None:
                return
            delay = due - time.monotonic()
            if delay > 0 and self._stopping.wait(delay):
                return
            sample = self._fetch()
            with self._lock:
                self._samples.append(sample)

    def _fetch(self) -> Sample:
        """One GET on a new connection; every failure becomes the sample's ``error``."""
        start = time.monotonic()
        status: int | None = None
        body: str | None = None
        error: str | None = None
        conn: http.client.HTTPConnection | None = None
        try:
            if self._https:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            conn.request("GET", self._path, headers={"Connection": "close"})
            response = conn.getresponse()
            try:
                raw = response.read()
            finally:
                response.close()
            status = response.status
            body = raw.decode("utf-8", errors="replace").strip()
        except Exception as exc:  # a worker never raises: the error is the result
            status = body = None
            error = _describe(exc)
        finally:
            if conn is not None:
                conn.close()
        return Sample(start, time.monotonic() - start, status, body, error)


def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 200 characters."""
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line[:200]


# -- analysis ---------------------------------------------------------------------------------


def failures(samples: Sequence[Sample]) -> list[Sample]:
    """Samples with an error or a status that is not 2xx."""
    return [
        s for s in samples if s.error is not None or s.status is None or not 200 <= s.status < 300
    ]


def since(samples: Sequence[Sample], t: float) -> list[Sample]:
    """Samples that started at or after ``t`` (a ``time.monotonic()`` value)."""
    return [s for s in samples if s.start >= t]


def share(samples: Sequence[Sample], body: str) -> float:
    """Fraction of the samples that got a response whose body is ``body`` (0.0 if none did)."""
    answered = [s for s in samples if s.error is None]
    if not answered:
        return 0.0
    return sum(1 for s in answered if s.body == body) / len(answered)


def rate(samples: Sequence[Sample]) -> float:
    """Achieved requests per second between the first and the last start (0.0 below 2)."""
    if len(samples) < 2:
        return 0.0
    starts = [s.start for s in samples]
    span = max(starts) - min(starts)
    return (len(samples) - 1) / span if span > 0 else 0.0


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def summary(samples: Sequence[Sample]) -> str:
    """One line for assertion messages: count, rate, failures, bodies, p50/p99 latency."""
    if not samples:
        return "0 requests"
    failed = failures(samples)
    kinds = Counter(s.error.split(":", 1)[0] if s.error else f"HTTP {s.status}" for s in failed)
    bodies = Counter(s.body for s in samples if s.error is None)
    latencies = sorted(s.elapsed for s in samples)
    failed_text = f"{len(failed)} failures"
    if kinds:
        failed_text += " (" + ", ".join(f"{k} x{n}" for k, n in kinds.most_common()) + ")"
    bodies_text = ", ".join(f"{b!r} x{n}" for b, n in bodies.most_common(5))
    if len(bodies) > 5:
        bodies_text += f", +{len(bodies) - 5} more"
    return (
        f"{len(samples)} requests at {rate(samples):.1f}/s, {failed_text}, "
        f"bodies: {bodies_text or 'none'}, "
        f"p50 {_percentile(latencies, 0.50) * 1000:.1f} ms, "
        f"p99 {_percentile(latencies, 0.99) * 1000:.1f} ms"
    )
