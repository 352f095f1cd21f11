"""A live-session input fed by UDP datagrams (VMC, iFacialMocap): the socket, the receiver
thread, the lost-input easing (``HeldValues``) and the counting of packets it could not read.

A receiver never dies of what arrives: random bytes, a truncated or mistyped packet, NaN values,
names it does not know are counted and skipped (the first one is reported once on stderr), so a
broken sender leaves the puppet easing back to what lies under it, never a crash.
"""
from __future__ import annotations

import abc
import errno
import ipaddress
import socket
import sys
import threading
import time

from seethrough_core.character import InputError

from runtime.drivers.inputs import HeldValues, InputReading

RECV_TIMEOUT = 0.25          # s: how often the thread looks at the stop flag and ticks
MAX_DATAGRAM = 65535


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or 'localhost') only reaches this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_udp(host: str, port: int, option: str) -> socket.socket:
    """A UDP socket bound to ``host:port``; a port in use or an address this machine does not
    have is an InputError naming ``option`` (the command-line option that chose it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError, OverflowError):
        raise InputError(f"{option}: {host!r} is not an address of this machine") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            raise InputError(f"{option}: UDP port {port} on {host} is in use (another app or "
                             "live session is receiving there); close it or choose another "
                             "port") from None
        if exc.errno in (errno.EADDRNOTAVAIL, getattr(errno, "WSAEADDRNOTAVAIL", -1)):
            raise InputError(f"{option}: {host} is not an address of this machine (0.0.0.0 "
                             "listens on all of them)") from None
        if isinstance(exc, PermissionError):
            raise InputError(f"{option}: not allowed to listen on {host} port {port}; choose "
                             "a port above 1023") from None
        raise InputError(f"{option}: cannot listen on {host} port {port} "
                         f"({exc.strerror or exc})") from None
    sock.settimeout(RECV_TIMEOUT)
    return sock


class UdpInput(abc.ABC):
    """Base of the UDP inputs: subclasses turn one datagram into parameters (``handle``; raise
    on anything unreadable) and may act between datagrams (``tick``)."""

    name = "udp"

    def __init__(self, host: str, port: int, option: str, *, log=None) -> None:
        self.sock = bind_udp(host, port, option)
        self.host = host
        self.port = int(self.sock.getsockname()[1])   # the real one when 0 asked for any
        self.held = HeldValues()
        self.packets = 0            # datagrams received
        self.bad_packets = 0        # ... that could not be read
        self.log = log if log is not None else sys.stderr
        self._warned: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ what subclasses give

    @abc.abstractmethod
    def handle(self, data: bytes, sender: tuple, arrival: float) -> dict[str, float] | None:
        """The parameters one datagram carries (None: nothing to apply); raises when it cannot
        be read."""

    def tick(self, now: float) -> None:
        """Called at least every ``RECV_TIMEOUT`` seconds on the receiver thread."""

    # ------------------------------------------------------------------ the ParamInput protocol

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"live-{self.name}",
                                            daemon=True)
            self._thread.start()

    def read(self, now: float) -> InputReading | None:
        return self.held.read(now)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.sock.close()

    # ------------------------------------------------------------------ the receiver thread

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                self._tick()
                continue
            except OSError:
                # Windows reports an ICMP "port unreachable" for an earlier send as a reset
                # here; only a closed socket ends the loop.
                if self._stop.is_set() or self.sock.fileno() == -1:
                    break
                self._stop.wait(0.01)
                continue
            arrival = time.perf_counter()
            self.packets += 1
            try:
                values = self.handle(data, sender, arrival)
            except Exception as exc:   # garbage in: counted and skipped, never fatal
                self.bad_packets += 1
                self._warn("packet", f"skipping a packet from {sender[0]}:{sender[1]} that it "
                                     f"cannot read ({exc}); later ones are skipped silently")
                values = None
            if values:
                self.held.put(values, now=arrival, captured=arrival)
            self._tick()

    def _tick(self) -> None:
        try:
            self.tick(time.perf_counter())
        except Exception as exc:       # a failing send must not stop the receiver either
            self._warn("tick", str(exc))

    def _warn(self, kind: str, text: str) -> None:
        """One line per kind of trouble: a flood of garbage must not flood the terminal."""
        if kind in self._warned:
            return
        self._warned.add(kind)
        try:
            print(f"warning: {self.name}: {text}", file=self.log, flush=True)
        except (OSError, ValueError):
            pass
