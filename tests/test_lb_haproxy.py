"""A real HAProxy in master-worker mode in front of small HTTP backends: apply, reload, stop."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.lb.haproxy import HAProxy, global_section
from pipeline_kit.model.errors import InvalidInput

pytestmark = pytest.mark.slow  # haproxy must be installed: bash scripts/setup.sh test

Backend = Callable[[str], int]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def backend() -> Iterator[Backend]:
    """Start HTTP backends answering their own name (200 on /health); port of each."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(name: str) -> int:
        class Handler(BaseHTTPRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(ConnectionError):  # health checks reset early
                    super().handle()

            def do_GET(self) -> None:
                body = b"ok" if self.path == "/health" else name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        servers.append((server, thread))
        return server.server_address[1]

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[HAProxy]:
    haproxy = HAProxy(tmp_path / "lb", timeout=10.0)
    yield haproxy
    haproxy.stop()


@pytest.fixture
def port() -> int:
    return _free_port()


def config(lb: HAProxy, port: int, servers: dict[str, int], extra: str = "") -> str:
    """A config with one frontend on ``port`` and one checked backend ``app``."""
    lines = [
        global_section(lb.folder),
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s",
        "    timeout server 5s\n",
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend app\n",
        "backend app\n    balance roundrobin\n    option httpchk GET /health",
        "    default-server inter 200ms fall 2 rise 1",
        *(f"    server {name} 127.0.0.1:{p} check" for name, p in servers.items()),
        extra,
    ]
    return "\n".join(lines) + "\n"


def get(port: int) -> str:
    """One request on a new connection through the frontend; the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, (response.status, body)
        return body
    finally:
        conn.close()


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def all_from(port: int, name: str, count: int = 10) -> bool:
    return all(get(port) == name for _ in range(count))


def test_validate(lb: HAProxy, port: int) -> None:
    good = config(lb, port, {"a": 1})
    lb.validate(good)
    lb.folder.mkdir(exist_ok=True)
    lb.config_path.write_text("live\n")
    with pytest.raises(ExternalFailure) as error:
        lb.validate(good + "    bogus-keyword 1\n")
    message = str(error.value)
    assert message.startswith("haproxy rejected the config: ")
    assert "unknown keyword 'bogus-keyword'" in message and "\n" not in message
    assert lb.config_path.read_text() == "live\n"
    assert sorted(p.name for p in lb.folder.iterdir()) == ["haproxy.cfg"]


def test_apply_starts(lb: HAProxy, port: int, backend: Backend) -> None:
    a = backend("a")
    assert not lb.running()
    assert lb.apply(config(lb, port, {"a": a}))
    assert lb.running() and lb.current() == config(lb, port, {"a": a})
    assert get(port) == "a"
    eventually(lambda: [s.status for s in lb.stats()] == ["UP"])
    (stat,) = lb.stats()
    assert (stat.backend, stat.server, stat.address) == ("app", "a", f"127.0.0.1:{a}")
    assert stat.total >= 1 and stat.weight == 1 and stat.sessions == 0
    assert [w.old for w in lb.workers()] == [False]


def test_same_text_twice(lb: HAProxy, port: int, backend: Backend) -> None:
    text = config(lb, port, {"a": backend("a")})
    assert lb.apply(text)
    pid = lb.workers()[0].pid
    assert not lb.apply(text)
    assert [w.pid for w in lb.workers()] == [pid]


def test_reload_and_drain(lb: HAProxy, port: int, backend: Backend) -> None:
    a, b = backend("a"), backend("b")
    assert lb.apply(config(lb, port, {"a": a}))
    (first,) = lb.workers()
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    with held:
        held.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # in flight on the old worker
        time.sleep(0.2)
        assert lb.apply(config(lb, port, {"b": b}))
        eventually(lambda: all_from(port, "b"), timeout=5)
        workers = lb.workers()
        assert [(w.pid, w.old) for w in workers if w.old] == [(first.pid, True)]
        assert not lb.drain(0.3)
        held.sendall(b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := held.recv(4096):
            answer += chunk
    assert answer.split(b" ")[1] == b"200" and answer.endswith(b"\r\n\r\na")
    assert lb.drain(10)
    assert [w.old for w in lb.workers()] == [False]


def test_zero_downtime(lb: HAProxy, port: int, backend: Backend) -> None:
    texts = [config(lb, port, {"a": backend("a")}), config(lb, port, {"b": backend("b")})]
    assert lb.apply(texts[0])
    errors: list[str] = []
    seen: list[str] = []
    stop = threading.Event()

    def client() -> None:
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline and len(seen) < 5000:
            try:
                seen.append(get(port))
            except (OSError, AssertionError, http.client.HTTPException) as error:
                errors.append(repr(error))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        for n in range(1, 4):
            eventually(lambda n=n: len(seen) >= 50 * n)  # type: ignore[misc]
            assert lb.apply(texts[n % 2])
        eventually(lambda: len(seen) >= 200)
    finally:
        stop.set()
        thread.join(timeout=35)
    assert errors == []
    assert {"a", "b"} <= set(seen) and len(seen) >= 200
    assert lb.drain(10)


def test_rejected_config_keeps_serving(lb: HAProxy, port: int, backend: Backend) -> None:
    text = config(lb, port, {"a": backend("a")})
    assert lb.apply(text)
    (worker,) = lb.workers()
    with pytest.raises(ExternalFailure, match=r"haproxy rejected the config: .*unknown keyword"):
        lb.apply(text.replace("balance roundrobin", "balance roundrobin\n    nonsense here"))
    assert lb.current() == text
    assert get(port) == "a"
    assert lb.workers() == [worker]


def test_failed_reload_restores(lb: HAProxy, port: int, backend: Backend) -> None:
    """A config valid for ``-c`` that cannot load (a port in use): old config kept and serving."""
    text = config(lb, port, {"a": backend("a")})
    assert lb.apply(text)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        clash = text + f"frontend other\n    bind 127.0.0.1:{busy}\n    default_backend app\n"
        with pytest.raises(ExternalFailure, match="failed to reload"):
            lb.apply(clash)
    assert lb.current() == text
    assert get(port) == "a" and lb.running()
    b = backend("b")
    assert lb.apply(config(lb, port, {"b": b}))  # the master recovers from its failed reload
    eventually(lambda: all_from(port, "b"), timeout=5)


def test_failed_start(lb: HAProxy, port: int, backend: Backend) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(ExternalFailure, match=r"haproxy failed to start: .*cannot bind"):
            lb.apply(config(lb, port, {"a": backend("a")}))
    assert not lb.running() and lb.current() is None


def test_set_weight(lb: HAProxy, port: int, backend: Backend) -> None:
    assert lb.apply(config(lb, port, {"a": backend("a"), "b": backend("b")}))
    eventually(lambda: [s.status for s in lb.stats()] == ["UP", "UP"])
    assert {get(port) for _ in range(10)} == {"a", "b"}
    lb.set_weight("app", "a", 0)
    assert {s.server: s.weight for s in lb.stats()} == {"a": 0, "b": 1}
    assert all_from(port, "b", 20)
    lb.set_weight("app", "a", 1)
    assert {get(port) for _ in range(10)} == {"a", "b"}
    for args in [("app", "a b", 1), ("", "a", 1), ("app/x", "a", 1), ("app", "a;x", 1)]:
        with pytest.raises(InvalidInput):
            lb.set_weight(*args)
    for weight in (-1, 257):
        with pytest.raises(InvalidInput):
            lb.set_weight("app", "a", weight)
    with pytest.raises(ExternalFailure, match="No such server"):
        lb.set_weight("app", "zz", 1)


def _gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (an unreaped zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_stop(lb: HAProxy, port: int, backend: Backend) -> None:
    assert lb.apply(config(lb, port, {"a": backend("a")}))
    pids = [int(lb.pidfile.read_text()), *(w.pid for w in lb.workers())]
    assert len(pids) == 2
    lb.stop()
    assert all(_gone(pid) for pid in pids)
    assert not lb.running()
    assert not lb.master_socket.exists() and not lb.stats_socket.exists()
    assert not lb.pidfile.exists()
    with pytest.raises(OSError):
        get(port)
    lb.stop()  # a no-op now


def test_stale_files(lb: HAProxy, port: int, backend: Backend, tmp_path: Path) -> None:
    """A socket nobody listens on and a pidfile of a dead process: not running; apply starts."""
    lb.folder.mkdir()
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(lb.master_socket))
    lb.pidfile.write_text("999999\n")
    assert not lb.running() and lb.drain(0.1)
    lb.stop()  # a no-op
    assert lb.apply(config(lb, port, {"a": backend("a")}))
    assert get(port) == "a"
    with pytest.raises(InvalidInput):
        HAProxy(tmp_path / "with space")
    with pytest.raises(InvalidInput):
        HAProxy(tmp_path / ("x" * 120))
