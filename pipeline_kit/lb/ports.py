"""Who listens on a TCP port of this host: the processes behind a listening socket (Linux).

Read from ``/proc/net/tcp``, ``/proc/net/tcp6`` (listening sockets and their inodes) and
``/proc/PID/fd`` (which process holds which socket), as ``ss -ltnp`` does. A socket whose
holder cannot be seen (another user's process without the rights to look) counts as held
by an unknown process.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"
_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket on ``address:port`` and the processes that hold it."""

    address: str
    port: int
    pids: frozenset[int]

    def describe(self) -> str:
        if not self.pids:
            return "an unknown process"
        names = [f"{_name(pid)} (pid {pid})" for pid in sorted(self.pids)]
        return ", ".join(names)


def listeners(port: int, bind: str) -> list[Listener]:
    """The listening sockets that take connections to ``bind:port``."""
    found: dict[int, tuple[str, int]] = {}
    for table in ("tcp", "tcp6"):
        for address, number, inode in _sockets(_PROC / "net" / table):
            if number == port and _overlaps(address, bind):
                found[inode] = (address, number)
    if not found:
        return []
    holders = _holders(set(found))
    return [
        Listener(address, number, frozenset(holders.get(inode, ())))
        for inode, (address, number) in sorted(found.items())
    ]


def _sockets(path: Path) -> list[tuple[str, int, int]]:
    """(address, port, inode) of every listening socket in a ``/proc/net/tcp*`` table."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()[1:]
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        local_hex, port_hex = fields[1].split(":")
        out.append((_address(local_hex), int(port_hex, 16), int(fields[9])))
    return out


def _address(text: str) -> str:
    """A ``/proc/net/tcp*`` address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(text)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def _overlaps(address: str, bind: str) -> bool:
    """Whether a socket on ``address`` takes connections meant for ``bind``."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    try:
        wanted = ipaddress.ip_address(bind)
    except ValueError:  # a host name or '*': any address may be it
        return True
    return ip.is_unspecified or wanted.is_unspecified or ip == wanted


def _holders(inodes: set[int]) -> dict[int, set[int]]:
    """socket inode → the pids that have it open."""
    links = {f"socket:[{inode}]": inode for inode in inodes}
    out: dict[int, set[int]] = {}
    for proc in _PROC.iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target in links:
                out.setdefault(links[target], set()).add(int(proc.name))
    return out


def _name(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "a process"
