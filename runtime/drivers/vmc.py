"""``live --vmc [PORT]``: the VMC protocol (OSC over UDP) that VSeeFace, VMagicMirror, Virtual
Motion Capture, Warudo and phone-tracker bridges send (https://protocol.vmc.info/).

What is read:

* ``/VMC/Ext/Bone/Pos name px py pz qx qy qz qw``: a humanoid bone's local position and rotation
  (Unity's axes). Neck and Head give the head angles (the head relative to the chest: the neck's
  rotation, then the head's); Spine, Chest and UpperChest, where sent, the body angles (without
  them the body follows the head, as with the camera). Other bones are ignored.
* ``/VMC/Ext/Blend/Val name value`` then ``/VMC/Ext/Blend/Apply``: blendshape clip values, the
  VRM presets (A, I, U, E, O, Blink, Blink_L, Blink_R, Joy, Angry, Sorrow, Fun, LookUp ...) and
  the 52 ARKit names of "perfect sync" (eyeBlinkLeft, jawOpen ...). Values are only used when
  Apply arrives, so a frame is never shown half-updated; a name not sent again keeps its value.
* Everything else (``/VMC/Ext/OK``, ``/VMC/Ext/T``, ``/VMC/Ext/Root/Pos``, unknown addresses) is
  ignored. Bones are applied once per datagram (a bundle is one datagram).

Axes. Unity is left-handed: x right, y up, z forward, and a humanoid avatar faces +z. Seen by a
camera in front of it, the avatar's +x is on the image's left, +y up and +z toward the camera,
so our camera axes (``runtime.drivers.solver``: x to the image's right, y down, z away from the
camera) are c = -u on every axis. A rotation R in Unity's axes is C R C^-1 in ours, and with
C = -I that is R itself: the quaternion's ordinary rotation matrix, read by
``euler_from_rotation``. So a Unity yaw of +20 deg about y (the avatar turns to its own right,
the screen's left) gives ParamAngleX = -20, +10 about x (the nose goes down) ParamAngleY = -10,
+15 about z (the top of the head goes to the avatar's left, the screen's right)
ParamAngleZ = +15. The puppet copies the sender's avatar as it is seen from the front; whether
that avatar mirrors its user is the sender's setting.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from runtime.drivers.arkit import face_params, head_params
from runtime.drivers.solver import euler_from_rotation
from runtime.drivers.udp_input import UdpInput

VMC_PORT = 39539             # the protocol's usual receiving port (VSeeFace's VMC sender default)
HEAD_BONES = ("Neck", "Head")                     # parent first
BODY_BONES = ("Spine", "Chest", "UpperChest")     # parent first
BONE_POS = "/VMC/Ext/Bone/Pos"
BLEND_VAL = "/VMC/Ext/Blend/Val"
BLEND_APPLY = "/VMC/Ext/Blend/Apply"


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray | None:
    """The rotation matrix of quaternion (x, y, z, w), normalised; None when it is not finite or
    has no length (garbage)."""
    q = np.array([x, y, z, w], np.float64)
    n = float(np.linalg.norm(q))
    if not math.isfinite(n) or n < 1e-6:
        return None
    x, y, z, w = q / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def unity_rotation(x: float, y: float, z: float, w: float) -> np.ndarray | None:
    """A Unity quaternion as a rotation in our camera axes, the avatar facing the camera (see
    the module docstring: the change of axes is -I, which leaves the matrix as it is)."""
    return quaternion_matrix(x, y, z, w)


def angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(AngleX, AngleY, AngleZ) in Live2D's directions of a rotation in our camera axes."""
    return euler_from_rotation(rotation)


class VmcState:
    """What the messages received so far say: the newest rotation of each bone read, the
    applied blendshape values, and values sent since the last Apply."""

    def __init__(self) -> None:
        self.bones: dict[str, np.ndarray] = {}
        self.blend: dict[str, float] = {}
        self.pending: dict[str, float] = {}

    def feed(self, messages: Iterable[tuple[str, Sequence]]) -> dict[str, float]:
        """The parameters that change with ``messages`` (one datagram's (address, args)); a
        malformed message is skipped, the others still count."""
        bones = applied = False
        for address, args in messages:
            if address == BONE_POS:
                bones |= self._bone(args)
            elif address == BLEND_VAL:
                self._value(args)
            elif address == BLEND_APPLY:
                self.blend.update(self.pending)
                self.pending.clear()
                applied = True
        out: dict[str, float] = {}
        if bones:
            out.update(self.pose())
        if applied:
            out.update(face_params(self.blend))
        return out

    def pose(self) -> dict[str, float]:
        head = self._chain(HEAD_BONES)
        body = self._chain(BODY_BONES)
        body_angles = angles(body) if body is not None else None
        if head is None:        # body bones alone: the head stays level on the body
            head = np.eye(3)
        return head_params(*angles(head), body=body_angles)

    def _chain(self, names: Sequence[str]) -> np.ndarray | None:
        """The rotations of ``names`` (parent first) composed; None when none was sent."""
        seen = [self.bones[n] for n in names if n in self.bones]
        if not seen:
            return None
        out = np.eye(3)
        for r in seen:
            out = out @ r
        return out

    def _bone(self, args: Sequence) -> bool:
        if len(args) < 8 or not isinstance(args[0], str):
            return False
        name = args[0]
        if name not in HEAD_BONES and name not in BODY_BONES:
            return False        # hands, legs, unknown bones: nothing of ours
        try:
            rotation = unity_rotation(*(float(v) for v in args[4:8]))
        except (TypeError, ValueError):
            return False
        if rotation is None:
            return False
        self.bones[name] = rotation
        return True

    def _value(self, args: Sequence) -> None:
        if len(args) < 2 or not isinstance(args[0], str):
            return
        try:
            value = float(args[1])
        except (TypeError, ValueError):
            return
        if math.isfinite(value):
            self.pending[args[0]] = min(max(value, 0.0), 1.0)


def osc_messages(data: bytes) -> list[tuple[str, list]]:
    """The (address, args) of every message in one OSC datagram (a message or a bundle, nested
    bundles flattened in order). Raises ValueError on anything that is not OSC."""
    from pythonosc.osc_packet import OscPacket, ParseError
    try:
        packet = OscPacket(data)
    except ParseError as exc:
        raise ValueError(f"not OSC: {exc}") from None
    return [(m.message.address, list(m.message.params)) for m in packet.messages]


class VmcInput(UdpInput):
    """The VMC receiver: a ``ParamInput`` named ``vmc`` (runtime.drivers.inputs)."""

    name = "vmc"

    def __init__(self, port: int = VMC_PORT, host: str = "127.0.0.1", *,
                 option: str = "--vmc", log=None) -> None:
        super().__init__(host, port, option, log=log)
        self.state = VmcState()

    def handle(self, data: bytes, sender: tuple, arrival: float) -> dict[str, float] | None:
        return self.state.feed(osc_messages(data))

    def describe(self) -> str:
        return f"vmc: receiving VMC (OSC) on {self.host} UDP port {self.port}"
