"""One HAProxy in master-worker mode in a folder: validate, apply (start or reload), stop.

The folder holds ``haproxy.cfg`` (live config), ``master.sock`` (master CLI), ``stats.sock``
(runtime API of the current worker) and ``haproxy.pid`` (the master's pid).

Contract with the renderer: every config has in ``global`` the lines of :func:`global_section`:
``stats socket <folder>/stats.sock mode 600 level admin expose-fd listeners`` (a new worker takes
the listening sockets over from the old one, so a reload refuses no connection),
``hard-stop-after 30s`` (a draining old worker is gone after 30s) and ``noreuseport`` (no
``SO_REUSEPORT``: no other process can listen on an endpoint's port beside this HAProxy and
take part of its traffic; a reload takes the sockets over rather than binding again).
Master-worker mode and daemonizing come from the command line (``-W``, ``-D``); nothing
needs root (no ``user``, ``group``, ``chroot`` or ``daemon``).

HAProxy 2.6: the master CLI answers once the client half-closes the connection; ``reload``
answers nothing (the master re-executes itself), so the outcome is read from ``show proc`` (the
master's reload and failed counters, a new worker pid); ``haproxy -c -q`` prints no alert at
all, so validation runs without ``-q``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.lb.stats import ServerStat, parse
from pipeline_kit.model.errors import InvalidInput

_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
_UNSAFE_PATH = re.compile(r"[\s\"'#\\]")
_ALERT = re.compile(r"^\[?ALERT\]?\s*(?:\(\d+\)\s*)?:\s*(?:config\s*:\s*)?")
_FAILED = re.compile(r"\[failed:\s*(\d+)\]")
_GENERIC = ("Error(s) found in configuration file", "Fatal errors found in configuration")
_POLL = 0.05  # seconds between two polls


@dataclass(frozen=True)
class Worker:
    """One worker of the master's ``show proc``."""

    pid: int
    reloads: int
    old: bool  # a worker of a previous generation still draining


@dataclass(frozen=True)
class _Procs:
    """The master's ``show proc``: its pid, reload counters and workers."""

    master: int
    reloads: int
    failed: int
    workers: list[Worker]


def _check_path(path: Path) -> None:
    """InvalidInput unless ``path`` can be written unquoted in a config and bound as a socket."""
    if _UNSAFE_PATH.search(str(path)) or len(os.fsencode(path)) > 107:  # sun_path: 108 bytes
        raise InvalidInput(f"unusable socket path {str(path)!r}: spaces/quotes/# or > 107 bytes")


def global_section(folder: Path) -> str:
    """The ``global`` section every config for an :class:`HAProxy` in ``folder`` must start with."""
    stats = folder / "stats.sock"
    _check_path(stats)
    return (
        "global\n"
        f"    stats socket {stats} mode 600 level admin expose-fd listeners\n"
        "    hard-stop-after 30s\n"
        "    noreuseport\n"
    )


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (Linux); a zombie nobody reaped counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def _until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, trimmed to about ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _alerts(stderr: str) -> str:
    """HAProxy's specific alerts, without prefixes; its first line when there is none."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    alerts = [_ALERT.sub("", line) for line in lines if _ALERT.match(line)]
    specific = [a for a in alerts if not a.startswith(_GENERIC)] or alerts
    return _one_line("; ".join(specific) or (lines[0] if lines else "no output"))


class HAProxy:
    """One HAProxy master and its workers, in ``folder``."""

    def __init__(self, folder: Path, binary: str = "haproxy", timeout: float = 10.0) -> None:
        self.folder = folder
        self.binary = binary
        self.timeout = timeout
        self.config_path = folder / "haproxy.cfg"
        self.master_socket = folder / "master.sock"
        self.stats_socket = folder / "stats.sock"
        self.pidfile = folder / "haproxy.pid"
        _check_path(self.master_socket)  # the longest socket path in the folder

    def _ask(self, path: Path, command: str, timeout: float | None = None) -> str:
        """Send one command on a unix socket and read the answer until EOF (OSError on failure)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout or self.timeout)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)  # the 2.6 master CLI answers only after this
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def _answer(self) -> _Procs | None:
        """The master's ``show proc``, None while it does not answer."""
        try:
            answer = self._ask(self.master_socket, "show proc", min(self.timeout, 1.0))
        except OSError:
            return None
        master, reloads, failed, section = 0, 0, 0, ""
        workers: list[Worker] = []
        for line in answer.splitlines():
            if line.startswith("#"):
                section = line.lstrip("# ").strip()
                continue
            fields = line.split()
            if len(fields) < 3 or not fields[0].isdigit() or not fields[2].isdigit():
                continue
            if fields[1] == "master":
                master, reloads = int(fields[0]), int(fields[2])
                match = _FAILED.search(line)
                failed = int(match.group(1)) if match else 0
            elif fields[1] == "worker" and section in ("workers", "old workers"):
                old = section == "old workers"
                workers.append(Worker(int(fields[0]), int(fields[2]), old))
        return _Procs(master, reloads, failed, workers) if master else None

    def _call(self, command: str) -> str:
        """Send ``command`` on the stats socket; ExternalFailure if nothing answers."""
        try:
            return self._ask(self.stats_socket, command)
        except OSError as error:
            raise ExternalFailure(f"haproxy stats socket not answering: {error}") from error

    def _serving_pid(self) -> int | None:
        """The pid of the worker answering on the stats socket, None if none answers."""
        try:
            info = self._ask(self.stats_socket, "show info", min(self.timeout, 2.0))
        except OSError:
            return None
        match = re.search(r"^Pid:\s*(\d+)", info, re.MULTILINE)
        return int(match.group(1)) if match else None

    def _ready(self, procs: _Procs | None, previous: set[int]) -> bool:
        """Whether a current worker not in ``previous`` answers on the stats socket."""
        new = {w.pid for w in procs.workers if not w.old} - previous if procs else set()
        return bool(new) and self._serving_pid() in new

    def _temp(self, text: str) -> Path:
        """A synced temp file in the folder holding ``text``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".haproxy-", suffix=".cfg", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def _write(self, text: str | None) -> None:
        """Replace the live config atomically with ``text``; remove it when None."""
        if text is None:
            self.config_path.unlink(missing_ok=True)
            return
        temp = self._temp(text)
        try:
            os.replace(temp, self.config_path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        """Run haproxy with ``args``, bounded by the timeout."""
        try:
            return subprocess.run(  # noqa: S603 - a list, no shell
                [self.binary, *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as error:
            raise ExternalFailure(f"haproxy not found: {self.binary!r}") from error
        except subprocess.TimeoutExpired as error:
            raise ExternalFailure(f"haproxy did not finish within {self.timeout:g}s") from error

    def validate(self, text: str) -> None:
        """ExternalFailure with HAProxy's alerts unless it accepts ``text``; live file untouched."""
        temp = self._temp(text)
        try:
            done = self._run(["-c", "-f", str(temp)])  # not -q: 2.6 then hides the alerts
        finally:
            temp.unlink(missing_ok=True)
        if done.returncode != 0:
            reason = _alerts(done.stderr.replace(str(temp), "new config"))
            raise ExternalFailure(f"haproxy rejected the config: {reason}")

    def running(self) -> bool:
        """Whether the master answers on its socket (stale files do not count)."""
        return self._answer() is not None

    def current(self) -> str | None:
        """The text of the live config, None if there is none."""
        try:
            return self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def apply(self, text: str, validated: bool = False) -> bool:
        """Validate (unless ``validated`` already), write and start or reload; False if it
        already runs ``text``."""
        if not validated:
            self.validate(text)
        previous, before = self.current(), self._answer()
        if before is not None and text == previous:
            return False
        self._write(text)
        try:
            if before is None:
                self._start()
            else:
                self._reload(before)
        except BaseException:
            self._write(previous)
            raise
        return True

    def _start(self) -> None:
        """Start the master and wait until it and a worker's stats socket answer."""
        if (pid := self._master_pid()) is not None:
            raise ExternalFailure(f"haproxy (pid {pid}) runs in {self.folder} but does not answer")
        for stale in (self.master_socket, self.stats_socket, self.pidfile):
            stale.unlink(missing_ok=True)
        master = f"{self.master_socket},mode,600"  # 2.6: bind options follow, comma-separated
        args = ["-W", "-S", master, "-D", "-p", str(self.pidfile), "-f", str(self.config_path)]
        done = self._run(args)
        if done.returncode != 0:
            raise ExternalFailure(f"haproxy failed to start: {_alerts(done.stderr)}")
        if _until(lambda: self._ready(self._answer(), set()), self.timeout):
            return
        self.stop()
        raise ExternalFailure(f"haproxy started but did not answer within {self.timeout:g}s")

    def _reload(self, before: _Procs) -> None:
        """Reload through the master and wait for a new worker serving the stats socket."""
        try:
            self._ask(self.master_socket, "reload")  # 2.6: no answer, the master re-executes
        except (ConnectionResetError, BrokenPipeError):
            pass
        except OSError as error:
            raise ExternalFailure(f"haproxy master refused the reload: {error}") from error
        previous = {w.pid for w in before.workers}

        def done() -> bool:
            procs = self._answer()  # None while the master re-executes itself
            if procs is None or procs.reloads <= before.reloads:
                return False
            fresh = [w for w in procs.workers if not w.old and w.pid not in previous]
            if procs.failed and not fresh:
                raise ExternalFailure(
                    "haproxy failed to reload the config (master reports a failed reload); "
                    "previous config restored and still serving"
                )
            return self._ready(procs, previous)

        if _until(done, self.timeout):
            return
        raise ExternalFailure(f"haproxy reload brought up no new worker within {self.timeout:g}s")

    def pids(self) -> set[int]:
        """The master's and its workers' pids (none when it does not run)."""
        procs = self._answer()
        return {procs.master, *(w.pid for w in procs.workers)} if procs else set()

    def workers(self) -> list[Worker]:
        """The current and draining workers of the master's ``show proc``."""
        procs = self._answer()
        if procs is None:
            raise ExternalFailure(f"haproxy master not answering on {self.master_socket}")
        return procs.workers

    def drain(self, timeout: float) -> bool:
        """Wait until no old worker remains; True if that happened within ``timeout``."""

        def drained() -> bool:
            procs = self._answer()
            if procs is None:
                return self._master_pid() is None
            return not any(w.old for w in procs.workers)

        return _until(drained, timeout)

    def stats(self) -> list[ServerStat]:
        """The server rows of ``show stat`` (not FRONTEND nor BACKEND)."""
        answer = self._call("show stat")
        if not answer.startswith("# "):
            raise ExternalFailure(f"unexpected answer to show stat: {_one_line(answer)}")
        return parse(answer)

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """Set a server's weight (0..256) at runtime; ExternalFailure if HAProxy refuses."""
        for what, name in (("backend", backend), ("server", server)):
            if not _NAME.fullmatch(name):
                raise InvalidInput(f"invalid {what} name {name!r}: expected [A-Za-z0-9_.:-]+")
        if isinstance(weight, bool) or not 0 <= weight <= 256:
            raise InvalidInput(f"invalid weight {weight!r}: expected an integer from 0 to 256")
        command = f"set server {backend}/{server} weight {weight}"
        answer = self._call(command).strip()
        if answer:
            raise ExternalFailure(f"haproxy refused {command!r}: {_one_line(answer)}")

    def _master_pid(self) -> int | None:
        """The master's pid from the pidfile, if it names a live haproxy."""
        try:
            pid = int(self.pidfile.read_text(encoding="utf-8").split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.config_path).encode() in cmdline and _alive(pid) else None

    def stop(self) -> None:
        """Soft-stop the master and workers (SIGUSR1), then SIGTERM, then SIGKILL; clean up."""
        procs, master = self._answer(), self._master_pid()
        pids = [procs.master, *(w.pid for w in procs.workers)] if procs else [master or 0]
        if not pids[0]:
            return
        for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGKILL):
            for pid in pids if sig == signal.SIGKILL else pids[:1]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            if _until(lambda: not any(_alive(pid) for pid in pids), self.timeout):
                break
        else:
            raise ExternalFailure(f"haproxy (pid {pids[0]}) did not stop")
        for path in (self.master_socket, self.stats_socket, self.pidfile):
            path.unlink(missing_ok=True)
