"""Movement timelines: the pose of a shot's subject at every frame, with each movement in its own time segment."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

from corpus.synth.scene import Shot

__all__ = ["OFF_LEFT", "OFF_RIGHT", "SIDE_X", "STAND_CENTRE", "ZOOM", "Pose", "poses", "segments"]

SIDE_X = {"left": 0.27, "centre": 0.5, "right": 0.73}  # subject centre, fraction of the frame width
# A person next to a product stand stands left of centre, so that the stand at arm's reach fits in the frame.
STAND_CENTRE = 0.4
OFF_LEFT, OFF_RIGHT = -0.6, 1.6  # fully off-screen, even for a car (0.8 of the width)
ZOOM = 1.6  # camera magnification after a zoom in


@dataclass(frozen=True)
class Pose:
    """Where the subject is and what it is doing at one frame."""

    x: float = 0.5  # centre, fraction of width
    dy: float = 0.0  # vertical offset, fraction of height (negative = up)
    angle: float = 0.0  # in-plane rotation, degrees counter-clockwise
    sx: float = 1.0  # horizontal scale = cos(spin angle); negative = seen from the back
    wave: float = 0.0  # left arm raised and waving, 0..1
    wave_phase: float = 0.0  # radians
    walk: float = -1.0  # leg phase in radians while walking, -1 when standing
    hold: float = 0.0  # person_product: 0 = product on its stand, 1 = in the right hand
    reach: float = 0.0  # right arm stretched toward the stand, 0..1
    lift: float = 0.0  # right arm raised with the product, 0..1
    lid: float = 0.0  # lid / cap opened, 0..1
    tilt: float = 0.0  # pouring tilt, 0..1 (1 = ~110 degrees)
    stream: bool = False  # liquid flowing
    shake: float = 0.0  # held product wobble, degrees
    zoom: float = 1.0  # camera magnification
    cx: float = 0.5  # where the camera zooms, fraction of width: fixed during a zoom, so later moves stay visible
    effect: float = -1.0  # attack progress 0..1, -1 when not attacking
    lying: float = 0.0  # character collapsed, 0..1


def _ease(p: float) -> float:
    p = min(max(p, 0.0), 1.0)
    return p * p * (3 - 2 * p)


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _bump(p: float, up: float = 0.25, down: float = 0.8) -> float:
    """0 -> 1 over [0, up], 1 until ``down``, back to 0 at 1: a gesture that returns to rest."""
    if p < up:
        return _ease(p / up)
    if p > down:
        return 1 - _ease((p - down) / (1 - down))
    return 1.0


def _move(m: str, s: Pose, p: float, mover: str, centre: float) -> Pose:
    """The pose reached from ``s`` after a fraction ``p`` of movement ``m``."""
    r = dataclasses.replace
    body = mover in ("person", "character")
    walk = 2 * math.pi * 2.5 * p if body else -1.0
    if m == "enter_left" or m == "enter_right":
        return r(s, x=_lerp(s.x, centre, _ease(p)), walk=walk if p < 1 else -1.0)
    if m == "exit_left":
        return r(s, x=_lerp(s.x, OFF_LEFT, p * p), walk=walk)
    if m == "exit_right":
        return r(s, x=_lerp(s.x, OFF_RIGHT, p * p), walk=walk)
    if m == "walk_to_right" or m == "walk_to_left":
        return r(
            s, x=_lerp(s.x, SIDE_X["right" if m == "walk_to_right" else "left"], _ease(p)), walk=walk if p < 1 else -1.0
        )
    if m == "jump":
        if mover == "product":  # two bounces
            return r(s, dy=-0.16 * abs(math.sin(2 * math.pi * p)))
        if mover == "car":
            return r(s, dy=-0.07 * abs(math.sin(3 * math.pi * p)))
        return r(s, dy=-0.2 * math.sin(math.pi * p))
    if m == "wave":
        return r(s, wave=_bump(p, 0.2, 0.85), wave_phase=2 * math.pi * 3 * p)
    if m == "spin":
        if body:
            return r(s, sx=math.cos(2 * math.pi * _ease(p)))
        return r(s, angle=(360.0 * _ease(p)) % 360.0)
    if m == "shake":
        env = math.sin(math.pi * p)
        w = math.sin(2 * math.pi * 4 * p) * env
        if mover == "person":
            return r(s, shake=40.0 * w)
        return r(s, x=s.x + 0.05 * w, angle=10.0 * w)
    if m == "pick_up":  # reach out to the stand, then bring the product back to the side
        return r(s, reach=_ease(p / 0.5) if p < 0.5 else 1 - _ease((p - 0.5) / 0.5), hold=_ease((p - 0.45) / 0.55))
    if m == "put_down":
        return r(s, reach=_ease(p / 0.5) if p < 0.5 else 1 - _ease((p - 0.5) / 0.5), hold=1 - _ease(p / 0.5))
    if m == "raise":
        return r(s, lift=_bump(p, 0.3, 0.8))
    if m == "pour":
        t = _bump(p, 0.3, 0.8)
        return r(s, tilt=t, stream=t > 0.95)
    if m == "open_lid":
        return r(s, lid=_ease(p))
    if m == "fall":
        if mover == "character":
            return r(s, lying=_ease(p))
        if p < 0.7:  # dropping with gravity, then a small bounce on the surface
            return r(s, dy=_lerp(s.dy, 0.0, (p / 0.7) ** 2))
        return r(s, dy=-0.05 * math.sin(math.pi * (p - 0.7) / 0.3))
    if m == "attack":
        return r(s, effect=p if p < 1 else -1.0)
    if m == "zoom_in":
        return r(s, zoom=_lerp(s.zoom, ZOOM, _ease(p)), cx=min(max(s.x, 0.0), 1.0))
    if m == "zoom_out":
        return r(s, zoom=_lerp(s.zoom, 1.0, _ease(p)))
    raise AssertionError(f"unknown movement {m}")


def segments(n_frames: int, n_moves: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) frame ranges of the movements of a shot, as equal as whole frames allow."""
    assert n_moves >= 1 and n_frames >= n_moves, (n_frames, n_moves)
    b = [round(n_frames * k / n_moves) for k in range(n_moves + 1)]
    return list(itertools.pairwise(b))


def _centre(shot: Shot) -> float:
    return STAND_CENTRE if shot.kind == "person_product" else SIDE_X["centre"]


def _initial(shot: Shot) -> Pose:
    first = shot.movements[0]
    x = SIDE_X[shot.start_side] if shot.start_side != "centre" else _centre(shot)
    if first == "enter_left":
        x = OFF_LEFT
    elif first == "enter_right":
        x = OFF_RIGHT
    dy = -1.0 if first == "fall" and shot.mover == "product" else 0.0
    zoom = ZOOM if first == "zoom_out" else 1.0
    return Pose(x=x, dy=dy, zoom=zoom, cx=x, hold=1.0 if shot.held else 0.0)


def poses(shot: Shot) -> list[Pose]:
    """The subject's pose at each frame of ``shot``: movement k runs during segment k and ends where k+1 starts."""
    out: list[Pose] = []
    state, centre = _initial(shot), _centre(shot)
    for m, (a, b) in zip(shot.movements, segments(shot.n_frames, len(shot.movements)), strict=True):
        n = b - a
        out.extend(_move(m, state, (i + 1) / n, shot.mover, centre) for i in range(n))
        state = _move(m, state, 1.0, shot.mover, centre)
    assert len(out) == shot.n_frames
    return out
