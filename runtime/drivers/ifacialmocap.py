"""``live --ifacialmocap [PHONE_IP]``: the iFacialMocap iPhone/iPad app's UDP stream, read
directly (no PC app in between).

The protocol, as the app's developer page (https://www.ifacialmocap.com/for-developer/)
describes it: a client sends the text ``iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719`` to
UDP port 49983 of the phone; the app then sends one text datagram per frame (60 fps, 30 when the
phone runs hot) to UDP port 49983 of the client:

    mouthSmile_R-0|eyeLookOut_L-0|...|jawOpen-12|...|=head#-21.5,-6.0,-6.6,-0.03,-0.10,-0.66|
    rightEye#6.0,2.4,0.3|leftEye#6.0,-1.7,-0.2|

blendshapes as ``name-value`` with values 0..100 (ARKit names, ``_L``/``_R`` for Left/Right),
then the head's Euler angles X, Y, Z in degrees and its position, and each eye's angles. What is
implemented: the start message is sent from the listening socket itself (so the reply comes
back to the listening port whether the app answers to port 49983 or to the sender's port) to
PHONE_IP when one is given, and again every 2 s while no data arrives (the app started late, the
phone slept); without PHONE_IP we only listen (enter this computer's address in the app). The
parser also reads the newer "v2" form (``name&value``, which clients ask for by appending
``|sendDataVersion=v2``; we do not ask for it), fields in any order, the head with or without
its position, a ``head#`` field with or without its ``=``, and ``trackingStatus-0`` (no face:
the frame is dropped, so the puppet eases back). Unknown names (``hapihapi`` ...) are skipped.
The eye angles are not used: the eyeLook blendshapes give the gaze.

Head axes. The angles are taken as ARKit's face anchor gives them: right-handed, x toward the
viewer's right (the face's own left), y up, z out of the face toward the phone; X is the pitch
(+ nose down), Y the yaw (+ toward the viewer's right), Z the roll (+ top of the head toward
the viewer's left), composed as yaw, then pitch, then roll. Our camera axes (x right, y down,
z away) are (x, -y, -z) of those, so the rotation is ``rotation_from_euler(Y, -X, -Z)``:
ParamAngleX = Y, ParamAngleY = -X, ParamAngleZ = -Z when uncalibrated. Like the camera without
``--mirror``, the puppet shows what the phone sees (you turn to your left, it turns to the
screen's right; your left eye is its left eye); ``mirror=True`` (``--mirror``) makes it your
reflection. Phones usually look up at the face from below, so ``calibrate()`` (the C key,
``--calibrate``) takes the next head pose as the neutral one.
"""
from __future__ import annotations

import math
import re
import socket
from dataclasses import dataclass, field

import numpy as np

from seethrough_core.character import InputError

from runtime.drivers.arkit import arkit_name, face_params, head_params, mirror_params
from runtime.drivers.solver import euler_from_rotation, rotation_from_euler
from runtime.drivers.udp_input import UdpInput

IFM_PORT = 49983
START_MESSAGE = b"iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719"
RESEND_EVERY = 2.0           # s between start messages while no data arrives
QUIET_AFTER = 1.0            # s without data before the start message is sent again
_FIELD_SPLIT = re.compile(r"[|=]")


@dataclass
class IfmFrame:
    blendshapes: dict[str, float] = field(default_factory=dict)   # ARKit names, 0..1
    head: tuple[float, float, float] | None = None     # X (pitch), Y (yaw), Z (roll), degrees
    tracked: bool = True                               # False: the app saw no face


def parse_frame(text: str) -> IfmFrame:
    """One iFacialMocap datagram (v1 or v2) -> its blendshapes and head angles. Fields it cannot
    read are skipped; ValueError when nothing in it is iFacialMocap data."""
    frame = IfmFrame()
    known = False
    for part in _FIELD_SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        if "#" in part:
            key, _, numbers = part.partition("#")
            if key.strip() != "head":
                continue          # rightEye#, leftEye#: the gaze comes from the blendshapes
            try:
                values = [float(v) for v in numbers.split(",")]
            except ValueError:
                continue
            if len(values) >= 3 and all(math.isfinite(v) for v in values[:3]):
                frame.head = (values[0], values[1], values[2])
                known = True
            continue
        sep = "&" if "&" in part else "-"
        name, found, number = part.partition(sep)   # the first '-': "name--5" is -5
        if not found:
            continue
        try:
            value = float(number)
        except ValueError:
            continue
        if not math.isfinite(value):
            continue
        if name.strip() == "trackingStatus":
            frame.tracked = value != 0
            known = True
            continue
        canonical = arkit_name(name)
        if canonical is not None:
            frame.blendshapes[canonical] = min(max(value / 100.0, 0.0), 1.0)
            known = True
    if not known:
        raise ValueError("no iFacialMocap data in it")
    return frame


def head_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The head's rotation in our camera axes from iFacialMocap's X, Y, Z (module docstring)."""
    return rotation_from_euler(yaw, -pitch, -roll)


def parse_phone(text: str) -> tuple[str, int] | None:
    """``--ifacialmocap``'s value: '' (listen only) -> None; 'IP' or 'IP:PORT' ('[v6]:PORT')
    -> (host, port), the port defaulting to 49983."""
    text = text.strip()
    if not text:
        return None
    host, port = text, IFM_PORT
    if text.startswith("["):                         # [IPv6]:PORT
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        port = _port(number, text)
    if not host:
        raise InputError(f"--ifacialmocap {text!r}: give the phone's address, e.g. "
                         "192.168.1.7 (shown at the top of the app)")
    return host, port


def _port(number: str, text: str) -> int:
    try:
        port = int(number)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise InputError(f"--ifacialmocap {text!r}: the port must be a whole number from 1 to "
                         "65535")
    return port


class IFacialMocapInput(UdpInput):
    """The iFacialMocap receiver: a ``ParamInput`` named ``ifacialmocap``."""

    name = "ifacialmocap"

    def __init__(self, phone: tuple[str, int] | None = None, host: str = "0.0.0.0",
                 port: int = IFM_PORT, *, mirror: bool = False, option: str = "--ifacialmocap",
                 log=None) -> None:
        super().__init__(host, port, option, log=log)
        self.phone = None
        if phone is not None:
            try:     # in the listening socket's family: the start message leaves from it
                infos = socket.getaddrinfo(phone[0], phone[1], family=self.sock.family,
                                           type=socket.SOCK_DGRAM)
            except (socket.gaierror, UnicodeError, OverflowError):
                self.sock.close()
                raise InputError(f"{option} {phone[0]}: not an address this computer can "
                                 f"reach from {host}; give the phone's IP address (shown at "
                                 "the top of the app)") from None
            self.phone = infos[0][4]
        self.mirror = bool(mirror)
        self.neutral = np.eye(3)
        self._calibrate = False
        self._last_data: float | None = None
        self._last_sent: float | None = None

    def calibrate(self) -> None:
        """The next head pose received becomes the neutral one (look straight ahead)."""
        self._calibrate = True

    def params(self, frame: IfmFrame) -> dict[str, float]:
        """The parameters of one frame under the current calibration."""
        out = face_params(frame.blendshapes)
        if frame.head is not None:
            rotation = head_rotation(*frame.head)
            if self._calibrate:
                self.neutral, self._calibrate = rotation, False
            out.update(head_params(*euler_from_rotation(rotation @ self.neutral.T)))
        return mirror_params(out) if self.mirror else out

    def handle(self, data: bytes, sender: tuple, arrival: float) -> dict[str, float] | None:
        text = data.decode("utf-8")
        if text.startswith("iFacialMocap_"):
            return None           # a start message (another client's, or our own echoed)
        frame = parse_frame(text)
        self._last_data = arrival
        if not frame.tracked:
            return None           # no face: let the puppet ease back
        return self.params(frame)

    def tick(self, now: float) -> None:
        if self.phone is None:
            return
        quiet = self._last_data is None or now - self._last_data > QUIET_AFTER
        due = self._last_sent is None or now - self._last_sent >= RESEND_EVERY
        if quiet and due:
            self._last_sent = now
            self.sock.sendto(START_MESSAGE, self.phone)

    def describe(self) -> str:
        where = f"listening on {self.host} UDP port {self.port}"
        if self.phone is None:
            return (f"ifacialmocap: {where}; in the app, send to this computer's address "
                    "(or give the phone's: --ifacialmocap PHONE_IP)")
        return f"ifacialmocap: {where}, asking {self.phone[0]}:{self.phone[1]} to stream"
