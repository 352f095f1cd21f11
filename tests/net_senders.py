"""Stand-ins for the apps `live --vmc` and `live --ifacialmocap` listen to, run as separate
processes by the tests (python tests/net_senders.py vmc|phone ...):

* ``vmc``: a VMC sender (VSeeFace-like): one OSC bundle per frame with the Neck/Head (and
  Chest) bones as Unity quaternions, blendshape values and Apply, plus the bones and messages a
  receiver must ignore. ``--garbage`` mixes in random bytes, truncated and mistyped packets, NaN
  and zero quaternions, values sent without Apply; ``--drop`` loses frames at random.
* ``phone``: the iFacialMocap app: binds a port (printed on the first line), waits for the start
  message and streams text frames to whoever sent it, then stops.

Both stop after ``--seconds`` of sending, like an app that is closed.
"""
from __future__ import annotations

import argparse
import math
import random
import socket
import sys
import time


def quaternion(yaw: float, pitch: float, roll: float) -> tuple[float, float, float, float]:
    """Unity's Quaternion.Euler(pitch, yaw, roll): roll about z, then pitch about x, then yaw
    about y (R = Ry Rx Rz), as (x, y, z, w)."""
    def axis(i: int, deg: float):
        h = math.radians(deg) / 2
        v = [0.0, 0.0, 0.0]
        v[i] = math.sin(h)
        return (*v, math.cos(h))

    def mul(a, b):
        ax, ay, az, aw = a
        bx, by, bz, bw = b
        return (aw * bx + ax * bw + ay * bz - az * by,
                aw * by - ax * bz + ay * bw + az * bx,
                aw * bz + ax * by - ay * bx + az * bw,
                aw * bw - ax * bx - ay * by - az * bz)

    return mul(mul(axis(1, yaw), axis(0, pitch)), axis(2, roll))


def _blends(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = float(value)
    return out


def _angles(text: str) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in text.split(","))
    return a, b, c


def wait_for_listener(host: str, port: int, timeout: float = 30.0) -> None:
    """Until something listens on host:port: a probe to a closed loopback port is refused (an
    ICMP port unreachable), one to a listener is not. The probe is an OSC message to an
    address no receiver knows, which a VMC receiver must ignore."""
    from pythonosc.osc_message_builder import OscMessageBuilder
    probe = OscMessageBuilder("/test/probe").build().dgram
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, port))
            s.settimeout(0.05)
            try:
                s.send(probe)
                s.recv(16)
            except ConnectionRefusedError:
                time.sleep(0.02)
                continue
            except socket.timeout:
                return
    raise SystemExit("no listener")


def send_vmc(args) -> None:
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    def message(address, *values):
        b = OscMessageBuilder(address)
        for v in values:
            b.add_arg(v)
        return b.build()

    def bundle(*messages):
        b = OscBundleBuilder(IMMEDIATELY)
        for m in messages:
            b.add_content(m)
        return b.build().dgram

    rng = random.Random(args.seed)
    blends = _blends(args.blend)
    head = quaternion(*_angles(args.head))
    neck = quaternion(*_angles(args.neck))
    chest = quaternion(*_angles(args.chest)) if args.chest else None
    target = (args.host, args.port)
    if args.wait:
        wait_for_listener(*target)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    period = 1.0 / args.fps
    start = time.perf_counter()
    frames = sent = 0
    while time.perf_counter() - start < args.seconds:
        frames += 1
        dropped = rng.random() < args.drop
        content = [message("/VMC/Ext/OK", 1, 3, 0, 1),
                   message("/VMC/Ext/T", float(time.perf_counter() - start)),
                   message("/VMC/Ext/Root/Pos", "root", 0.0, 0.0, 0.0, 0.0, 0.7071, 0.0, 0.7071),
                   message("/VMC/Ext/Bone/Pos", "Hips", 0.0, 1.0, 0.0, 0.0, 0.7071, 0.0, 0.7071),
                   message("/VMC/Ext/Bone/Pos", "LeftHand", 0.1, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5),
                   message("/VMC/Ext/Bone/Pos", "Tail", 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
                   message("/VMC/Ext/Bone/Pos", "Neck", 0.0, 0.1, 0.0, *neck),
                   message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.1, 0.0, *head)]
        if chest is not None:
            content.append(message("/VMC/Ext/Bone/Pos", "Chest", 0.0, 0.1, 0.0, *chest))
        content += [message("/VMC/Ext/Blend/Val", name, value) for name, value in blends.items()]
        content += [message("/VMC/Ext/Blend/Apply"), message("/unknown/address", 1.0)]
        if args.garbage:
            garbage = [
                rng.randbytes(rng.randint(1, 300)),
                bundle(*content)[:rng.randint(20, 120)],                  # truncated
                b"#bundle\0" + rng.randbytes(40),                          # a broken bundle
                bundle(message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0,
                               math.nan, math.nan, math.nan, math.nan)),   # NaN rotation
                bundle(message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)),
                bundle(message("/VMC/Ext/Bone/Pos", "Neck", "x", "y", "z", "a", "b", "c", "d")),
                bundle(message("/VMC/Ext/Bone/Pos", "Head")),              # too few arguments
                bundle(message("/VMC/Ext/Blend/Val", "jawOpen", math.nan),
                       message("/VMC/Ext/Blend/Apply")),                   # NaN: ignored
                bundle(message("/VMC/Ext/Blend/Val", 3, "x"), message("/VMC/Ext/Blend/Apply")),
            ]
            if not dropped:   # a value without its Apply: the frame below overwrites it
                garbage.append(bundle(message("/VMC/Ext/Blend/Val", "jawOpen", 1.0)))
            for g in garbage:
                sock.sendto(g, target)
        if not dropped:
            sock.sendto(bundle(*content), target)
            sent += 1
        time.sleep(max(0.0, start + frames * period - time.perf_counter()))
    print(f"sent {sent} of {frames} frames", flush=True)


def ifm_text(blends: dict[str, float], head, version: str, tracked: int | None) -> str:
    sep = "&" if version == "v2" else "-"
    parts = [f"{name}{sep}{value:g}" for name, value in blends.items()]
    parts += ["hapihapi" + sep + "1"]
    if tracked is not None:
        parts.append(f"trackingStatus{sep}{tracked}")
    text = "|".join(parts) + "|"
    if head is not None:
        text += "=head#{:g},{:g},{:g},0.01,-0.02,-0.4|".format(*head)
    return text + "rightEye#4.5,-3.1,0.2|leftEye#4.6,-2.9,0.1|"


def run_phone(args) -> None:
    rng = random.Random(args.seed)
    blends = _blends(args.blend)
    head = _angles(args.head) if args.head else None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    sock.settimeout(30.0)
    while True:
        data, client = sock.recvfrom(4096)
        if data == b"iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719":
            break
    print(f"start from {client[0]}:{client[1]}", flush=True)
    period = 1.0 / args.fps
    start = time.perf_counter()
    frames = sent = 0
    while time.perf_counter() - start < args.seconds:
        frames += 1
        if args.garbage:
            for g in (rng.randbytes(rng.randint(1, 200)), b"\xff\xfe\x00garbage",
                      "jawOpen-nan|eyeBlink_L-inf|=head#nan,1,2,3,4,5|".encode(),
                      "=head#1,2|rightEye#a,b,c|".encode(), b"{\"json\": 1}",
                      "jawOpen-|-5|&|||====|head#|".encode()):
                sock.sendto(g, client)
        if rng.random() >= args.drop:
            sock.sendto(ifm_text(blends, head, args.version, args.tracked).encode(), client)
            sent += 1
        time.sleep(max(0.0, start + frames * period - time.perf_counter()))
    print(f"sent {sent} of {frames} frames", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    v = sub.add_parser("vmc")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, required=True)
    v.add_argument("--wait", action="store_true", help="start when something listens")
    v.add_argument("--head", default="0,0,0", help="yaw,pitch,roll in degrees (Unity)")
    v.add_argument("--neck", default="0,0,0")
    v.add_argument("--chest", default=None)
    p = sub.add_parser("phone")
    p.add_argument("--head", default=None, help="X,Y,Z degrees as iFacialMocap sends them")
    p.add_argument("--version", choices=("v1", "v2"), default="v1")
    p.add_argument("--tracked", type=int, default=None)
    for s in (v, p):
        s.add_argument("--blend", action="append", default=[], metavar="NAME=VALUE")
        s.add_argument("--seconds", type=float, default=1.0)
        s.add_argument("--fps", type=float, default=60.0)
        s.add_argument("--drop", type=float, default=0.0)
        s.add_argument("--garbage", action="store_true")
        s.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    (send_vmc if args.mode == "vmc" else run_phone)(args)


if __name__ == "__main__":
    sys.exit(main())
