"""Helpers for the retrieval tests: shrunken configs and an in-memory synthetic clip set with known motion."""

from __future__ import annotations

import numpy as np

from retrieval import ClipItem, RetrieverConfig, apply_overrides, get_model_config

COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (40, 70, 230),
    "yellow": (235, 220, 40),
    "purple": (150, 50, 200),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
    "cyan": (40, 220, 220),
}
DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}  # (dy, dx)


def shrink(config: RetrieverConfig | str, **overrides) -> RetrieverConfig:
    """A registered config at test size, through the same code path: width 64, 2 layers, and 2x2 patches (3x2 or
    2x3 for a non-square config, keeping its orientation)."""
    if isinstance(config, str):
        config = get_model_config(config)
    v = config.vision
    h, w = v.image_hw
    p = v.patch_size
    size = 2 * p if h == w else [3 * p, 2 * p] if h > w else [2 * p, 3 * p]
    vision = {"image_size": size, "width": 64, "layers": 2, "heads": 2, "num_frames": 3}
    vision.update(overrides.pop("vision", {}))
    text = {"width": 64, "heads": 2, "layers": 1} if config.text.tower == "open_clip" else {"max_seq_length": 32}
    text.update(overrides.pop("text", {}))
    overrides = {"embed_dim": 32, "pretrained": None, **overrides}
    return apply_overrides(config, vision=vision, text=text, **overrides)


def open_clip_text_config(name: str = "tiny", **overrides) -> RetrieverConfig:
    """Small config with an open_clip text tower (no MiniLM load, for tests that do not need it) and open_clip's
    patchify stem, so that open_clip ViT weights load into it (``vision={"stem": "conv"}`` for the conv stem)."""
    vision = {"image_size": 32, "patch_size": 8, "stem": "patch", "width": 64, "layers": 2, "heads": 2, "num_frames": 3}
    vision.update(overrides.pop("vision", {}))
    text = {"tower": "open_clip", "width": 64, "heads": 2, "layers": 1, "freeze": False}
    text.update(overrides.pop("text", {}))
    overrides = {"embed_dim": 32, **overrides}
    return apply_overrides(get_model_config(name), vision=vision, text=text, **overrides)


def render_clip(colour: str, direction: str, n: int, size: int) -> np.ndarray:
    """uint8 (n, size, size, 3): a coloured square crossing a grey frame in ``direction``."""
    side = max(2, size // 4)
    dy, dx = DIRECTIONS[direction]
    travel = size - side
    frames = np.full((n, size, size, 3), 90, np.uint8)
    for i in range(n):
        f = i / max(1, n - 1)
        # Start at the far side of the motion, centred on the other axis.
        y = round(travel / 2 + dy * travel * (f - 0.5))
        x = round(travel / 2 + dx * travel * (f - 0.5))
        frames[i, y : y + side, x : x + side] = COLOURS[colour]
    return frames


def synthetic_loader(path: str, start_s: float, end_s: float | None = None, *, n: int, size: int, mode: str):
    """Frame loader with ``media.sample_frames``' signature for ``synthetic://<colour>/<direction>`` paths."""
    assert mode == "crop"
    colour, direction = path.removeprefix("synthetic://").split("/")
    return render_clip(colour, direction, n, size)


def synthetic_items(n_colours: int = 8) -> list[ClipItem]:
    """One clip per (colour, direction): 4 * n_colours clips with reference, general and ASR texts."""
    items = []
    for c, colour in enumerate(list(COLOURS)[:n_colours]):
        for d, direction in enumerate(DIRECTIONS):
            items.append(
                ClipItem(
                    clip_id=100 + 4 * c + d,
                    path=f"synthetic://{colour}/{direction}",
                    start_s=0.0,
                    end_s=2.0,
                    texts={
                        "reference": [f"a {colour} square moving {direction}"],
                        "general": [f"a {colour} square"],
                        "asr": [f"the {colour} one goes {direction}, buy it now"],
                    },
                )
            )
    return items
