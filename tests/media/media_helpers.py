"""Helpers for the media tests: frames, tones and shot videos whose content is known frame by frame."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from media import write_video

FPS = 10
H, W = 256, 144  # vertical 9:16 frames, as in the ad catalog


def index_colour(i: int) -> tuple[int, int, int]:
    """The flat colour that encodes frame ``i`` (< 256): R and G hold base-16 digits, 16 levels apart."""
    return ((i % 16) * 16 + 8, (i // 16) * 16 + 8, 128)


def decode_index(frame: np.ndarray) -> int:
    """Recover the frame index from a frame painted by :func:`index_colour` (tolerates +-7 per channel)."""
    r, g = float(frame[..., 0].mean()), float(frame[..., 1].mean())
    return round((g - 8) / 16) * 16 + round((r - 8) / 16)


def index_frames(n: int, h: int = H, w: int = W) -> list[np.ndarray]:
    return [np.broadcast_to(np.array(index_colour(i), np.uint8), (h, w, 3)).copy() for i in range(n)]


def banded_frame(h: int = H, w: int = W) -> np.ndarray:
    """Red top quarter, green middle half, blue bottom quarter: shows what a crop keeps."""
    f = np.zeros((h, w, 3), np.uint8)
    f[: h // 4, :, 0] = 255
    f[h // 4 : 3 * h // 4, :, 1] = 255
    f[3 * h // 4 :, :, 2] = 255
    return f


def tone(freq: float, seconds: float, sr: int = 16000, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- shot videos: each shot a distinct setting, with motion or zoom inside it ------------------------------------


def _setting(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random 'setting': a two-colour vertical gradient with a few static blocks and fine texture (float32)."""
    top, bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0, 1, h)[:, None, None]  # (h, 1, 1)
    img = (1 - ramp) * top + ramp * bottom  # (h, 1, 3)
    img = np.repeat(img, w, axis=1).astype(np.float32)  # (h, w, 3)
    for _ in range(4):
        y, x = rng.integers(0, h - 20), rng.integers(0, w - 20)
        img[y : y + rng.integers(10, h // 3), x : x + rng.integers(10, w // 2)] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape).astype(np.float32)  # texture, so that zooms change pixels
    return img


def _draw_disc(img: np.ndarray, cy: float, cx: float, r: float, colour: np.ndarray) -> None:
    yy, xx = np.ogrid[: img.shape[0], : img.shape[1]]
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = colour


def shot_frames(kind: str, length: int, rng: np.random.Generator, h: int = H, w: int = W) -> list[np.ndarray]:
    """Frames of one shot. ``kind``: flat (one colour), moving (discs crossing a setting), zoom (1x to 2x), pan."""
    if kind == "flat":
        colour = rng.integers(0, 256, 3).astype(np.uint8)
        return [np.broadcast_to(colour, (h, w, 3)).copy() for _ in range(length)]
    if kind in ("zoom", "pan"):
        big = _setting(rng, 2 * h, 2 * w)
        out = []
        for k in range(length):
            a = k / max(1, length - 1)
            if kind == "zoom":  # crop shrinks from the full frame to its centre half: a 2x zoom-in
                ch, cw = int(2 * h * (1 - a / 2)), int(2 * w * (1 - a / 2))
                y0, x0 = (2 * h - ch) // 2, (2 * w - cw) // 2
            else:  # a camera pan across the wide setting
                ch, cw = h, w
                y0, x0 = h // 2, int(a * w)
            crop = np.clip(big[y0 : y0 + ch, x0 : x0 + cw], 0, 255).astype(np.uint8)
            out.append(np.asarray(Image.fromarray(crop).resize((w, h), Image.BILINEAR)))
        return out
    assert kind == "moving", f"unknown shot kind {kind}"
    base = _setting(rng, h, w)
    discs = [
        (
            rng.uniform(0, h),
            rng.uniform(0, w),
            rng.uniform(-8, 8),
            rng.uniform(-6, 6),
            rng.uniform(12, 30),
            rng.uniform(0, 255, 3),
        )
        for _ in range(3)
    ]
    out = []
    for k in range(length):
        img = base.copy()
        for cy, cx, vy, vx, r, colour in discs:
            _draw_disc(img, cy + vy * k, cx + vx * k, r, colour)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def write_shots(path: Path, shots: list[tuple[str, int]], *, seed: int = 0, fps: float = FPS) -> list[int]:
    """Write a video made of ``shots`` (kind, length in frames); returns the true cut frames (excluding 0)."""
    rng = np.random.default_rng(seed)
    frames, cuts = [], []
    for kind, length in shots:
        if frames:
            cuts.append(len(frames))
        frames += shot_frames(kind, length, rng)
    write_video(path, frames, fps)
    return cuts


def remux_faststart(src: Path, dst: Path) -> Path:
    """Copy ``src`` into an mp4 whose index (moov) precedes the data, as streaming encoders write it."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:  # the demuxer's end-of-stream flush packets
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst


def write_vfr(path: Path, frames: list[np.ndarray], pts_ms: list[int]) -> Path:
    """Write a variable-frame-rate h264 mp4: frame ``i`` is shown from ``pts_ms[i]`` milliseconds on."""
    from fractions import Fraction

    assert len(frames) == len(pts_ms) and pts_ms == sorted(set(pts_ms))
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)  # a nominal rate; every frame carries its own pts
        stream.pix_fmt = "yuv420p"
        stream.height, stream.width = frames[0].shape[:2]
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"crf": "10", "preset": "veryfast"}
        for frame, pts in zip(frames, pts_ms, strict=True):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = pts, Fraction(1, 1000)
            container.mux(stream.encode(vf))
        container.mux(stream.encode())
    return path


def textured_frames(n: int, h: int, w: int) -> list[np.ndarray]:
    """Frames with fine vertical stripes (3 px) and a vertical ramp: any horizontal stretch shows as a large error."""
    yy, xx = np.mgrid[:h, :w]
    return [
        np.stack([((xx // 3 + i) % 2) * 200 + 20, (yy * 2 + i) % 256, np.full_like(xx, 100)], axis=-1).astype(np.uint8)
        for i in range(n)
    ]


def pyav_frames(path: Path) -> list[np.ndarray]:
    """Every frame of the first video stream, decoded in order by PyAV at its native size: the ground truth."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
