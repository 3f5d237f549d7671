"""What the demo app shows, as plain functions of search hits: gallery items, result cards, playable clip segments."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ANY", "TEXT_LABELS", "cut_segment", "error_box", "gallery_items", "hit_details", "result_cards"]

ANY = "(any)"  # the filter dropdowns' "no filter" choice
TEXT_LABELS = (("fine", "fine description"), ("tags", "attributes"), ("general", "general caption"), ("asr", "ASR"))


def _labels_line(labels: dict[str, Any]) -> str:
    parts = [str(labels[k]) for k in ("industry", "sub_industry", "product", "game") if labels.get(k)]
    return " / ".join(parts)


def _still(hit: Any, folder: Path) -> str:
    """The hit's thumbnail, or its middle frame written to ``folder`` when the catalog has none on disk."""
    if hit.thumb and Path(hit.thumb).is_file():
        return str(hit.thumb)
    from PIL import Image

    from media import sample_frames

    out = folder / f"still-{hit.clip_id}.jpg"
    if not out.is_file():
        frame = sample_frames(hit.path, hit.start_s, hit.end_s, n=1, size=None)[0]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(out, quality=85)
    return str(out)


def gallery_items(hits: Sequence[Any], folder: Path) -> list[tuple[str, str]]:
    """``(image path, caption)`` per hit for a ``gr.Gallery``: the thumbnail with rank and score."""
    return [(_still(h, folder), f"#{h.rank} · {h.score:.3f} · {_labels_line(h.labels)}") for h in hits]


def result_cards(hits: Sequence[Any]) -> str:
    """HTML cards, one per hit: rank, score, labels, time range, the channels that matched and the snippet (matched
    words marked), and its fine description, general caption, ASR."""
    cards = []
    for h in hits:
        texts = (
            "".join(
                f'<div class="rc-text rc-{kind}"><b>{label}:</b> {html.escape(h.texts[kind])}</div>'
                for kind, label in TEXT_LABELS
                if h.texts.get(kind)
            )
            or '<div class="rc-text"><i>no texts for this clip</i></div>'
        )
        cards.append(
            f'<div class="result-card" data-clip-id="{h.clip_id}">'
            f'<div class="rc-head"><b>#{h.rank}</b> · score {h.score:.3f} · {html.escape(_labels_line(h.labels))} · '
            f"{html.escape(h.catalog_id)} · {h.start_s:.1f}–{h.end_s:.1f} s</div>{_why(h)}{texts}</div>"
        )
    return f'<div class="result-cards">{"".join(cards)}</div>'


def _why(hit: Any) -> str:
    """Why the hit came back: the channels that matched and the snippet, its matched words in <mark>."""
    channels = getattr(hit, "channels", ()) or ()
    if not channels:
        return ""
    out = f'<div class="rc-why"><b>matched:</b> <span class="rc-channels">{html.escape(", ".join(channels))}</span>'
    snippet = getattr(hit, "snippet", None)
    if snippet is not None:
        marked, last = [], 0
        for start, end in snippet.spans:
            marked += [html.escape(snippet.text[last:start]), f"<mark>{html.escape(snippet.text[start:end])}</mark>"]
            last = end
        marked.append(html.escape(snippet.text[last:]))
        out += f' · <span class="rc-snippet" data-channel="{html.escape(snippet.channel)}">{"".join(marked)}</span>'
    return out + "</div>"


def hit_details(hit: Any) -> str:
    """Markdown about one hit (shown next to the playing segment)."""
    lines = [f"**#{hit.rank}** · score {hit.score:.3f} · clip `{hit.clip_id}` · {hit.start_s:.1f}–{hit.end_s:.1f} s"]
    lines.append(f"`{hit.uri or hit.path}`")
    lines += [f"- **{label}:** {hit.texts[kind]}" for kind, label in TEXT_LABELS if hit.texts.get(kind)]
    return "\n\n".join(lines)


def error_box(message: str) -> str:
    """A one-line markdown error for the page."""
    return f'<div class="app-error">⚠️ {html.escape(message)}</div>'


def cut_segment(path: str, start_s: float, end_s: float, out: Path) -> Path:
    """Write ``[start_s, end_s)`` of a video as an h264 mp4 at ``out`` (kept when it exists) for the browser.

    Raises:
        media.MediaError: The video cannot be read.
    """
    if out.is_file():
        return out
    from media import probe, sample_frames, write_video

    fps = probe(path).fps or 10.0
    n = max(1, round((end_s - start_s) * fps))
    frames = sample_frames(path, start_s, end_s, n=n, size=None)
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2  # yuv420p needs even sides
    return write_video(out, np.ascontiguousarray(frames[:, :h, :w]), fps)
