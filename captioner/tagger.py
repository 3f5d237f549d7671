"""Attribute tagger: the probability of each visual attribute of a clip (hair style, clothing pattern, product
material, movements, ...), from the fine captioner's frozen inputs, in the manner of Tag2Text's tagging head.

Why: the fine captioner sees these attributes (a linear probe on its frozen ViT tokens tells the four clothing
patterns apart 82% of the time) but states them little better than chance (its descriptions name the right pattern
~21% of the time): attribute words are a small share of a description's loss. A multi-label head trained on the
attributes directly keeps them (docs/experiments.md, "Attribute tagger").

Input: the frozen ViT tokens of the fine captioner (``Captioner.encode_frames``: (B, K layers, T frames, 1 + L
tokens, D)) and its video embedding (``Captioner.encode_video``), pooled into one vector: the last layer's CLS token
of every frame (in order, so movements and their order stay visible), every layer's mean patch token, the last
layer's max patch token, and the video embedding; standardised with the training set's statistics; then a two-layer
MLP with one logit per attribute of the vocabulary. ``captioner.attribute_text`` turns the probabilities into
attributes and a sentence.

Checkpoint: ``model.safetensors`` (weights in half precision, the statistics in float32) and ``config.json`` (the
vocabulary, the sizes, the id of the frozen inputs it was trained on, ``model_id``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from media.progress import progress_bar

__all__ = ["FORMAT", "WEIGHTS_ROOT", "Attr", "AttributeTagger", "fit_tagger", "load_tagger", "save_tagger", "tagger_id"]

FORMAT = "adsearch-attribute-tagger"
WEIGHTS_ROOT = Path(__file__).resolve().parent / "pretrained_taggers"  # shipped taggers: tagger-<tag>/
Attr = tuple[str, ...]  # ("pattern", "dotted"), ("move", "person", "wave"), ("glasses",)


class AttributeTagger(nn.Module):
    """Multi-label attribute head on pooled frozen captioner inputs.

    Args:
        vocabulary: The attributes it scores, one logit each, in this order.
        frames: Frames per clip (T). layers: ViT layers kept (K). width: ViT width (D). video_dim: video embedding size.
        hidden: MLP width. dropout: MLP dropout while training.
        inputs_id: Id of the frozen inputs it was trained on (``captioner.train.frozen_inputs_key``); a captioner
            whose inputs differ is refused by the callers that pair them.
    """

    def __init__(
        self,
        vocabulary: Sequence[Sequence[str]],
        *,
        frames: int,
        layers: int,
        width: int,
        video_dim: int,
        hidden: int = 512,
        dropout: float = 0.3,
        inputs_id: str = "",
    ) -> None:
        super().__init__()
        self.vocabulary: list[Attr] = [tuple(a) for a in vocabulary]
        if not self.vocabulary or len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("the vocabulary must list distinct attributes, at least one")
        self.frames, self.layers, self.width, self.video_dim = frames, layers, width, video_dim
        self.hidden, self.dropout, self.inputs_id = hidden, dropout, inputs_id
        in_dim = frames * width + layers * width + width + video_dim
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, len(self.vocabulary)),
        )
        self.model_id = ""

    def config(self) -> dict[str, Any]:
        return {
            "vocabulary": [list(a) for a in self.vocabulary],
            "frames": self.frames,
            "layers": self.layers,
            "width": self.width,
            "video_dim": self.video_dim,
            "hidden": self.hidden,
            "dropout": self.dropout,
            "inputs_id": self.inputs_id,
        }

    def pool(self, hidden: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """(B, K, T, 1 + L, D) ViT tokens and (B, E) video embeddings -> (B, F) pooled features (not standardised)."""
        b, k, t, _, d = hidden.shape
        if (k, t, d) != (self.layers, self.frames, self.width) or video.shape != (b, self.video_dim):
            raise ValueError(
                f"inputs {tuple(hidden.shape)} / {tuple(video.shape)} do not fit this tagger "
                f"(layers {self.layers}, frames {self.frames}, width {self.width}, video {self.video_dim})"
            )
        h = hidden.float()
        patches = h[:, :, :, 1:]
        return torch.cat(
            [h[:, -1, :, 0].flatten(1), patches.mean((2, 3)).flatten(1), patches[:, -1].amax((1, 2)), video.float()],
            dim=1,
        )

    def forward(self, hidden: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """Logits (B, len(vocabulary))."""
        return self.mlp((self.pool(hidden, video) - self.mean) / self.std)

    @torch.no_grad()
    def probabilities(self, hidden: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        was = self.training
        self.eval()
        try:
            return torch.sigmoid(self(hidden, video))
        finally:
            self.train(was)


def tagger_id(tagger: AttributeTagger) -> str:
    """``tagger-<12 hex digits>``: a hash of the config and every weight."""
    digest = hashlib.sha1(json.dumps(tagger.config(), sort_keys=True).encode())
    for name, t in sorted(tagger.state_dict().items()):
        digest.update(name.encode())
        digest.update(t.detach().float().cpu().numpy().tobytes())
    return f"tagger-{digest.hexdigest()[:12]}"


def fit_tagger(
    hidden: torch.Tensor,
    video: torch.Tensor,
    labels: Sequence[Iterable[Sequence[str]]],
    *,
    min_count: int = 20,
    skip_types: Sequence[str] = ("brand", "order"),
    epochs: int = 30,
    hidden_size: int = 512,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    inputs_id: str = "",
    progress: bool = False,
) -> tuple[AttributeTagger, list[dict[str, float]]]:
    """Train a tagger: binary cross-entropy on every attribute seen on at least ``min_count`` clips (types in
    ``skip_types`` left out: brands are read by OCR), AdamW with a one-cycle schedule; deterministic for ``seed``.

    Args:
        hidden: (N, K, T, 1 + L, D) frozen ViT tokens (float16 is fine). video: (N, E) video embeddings.
        labels: The attributes of each clip.

    Returns:
        The tagger (eval mode, ``model_id`` set) and one log row per epoch (``epoch``, ``loss``).

    Raises:
        ValueError: inputs of different lengths, or no attribute reaches ``min_count``.
    """
    labels = [{tuple(a) for a in clip} for clip in labels]
    if not (len(hidden) == len(video) == len(labels)):
        raise ValueError(f"{len(hidden)} token sets, {len(video)} video embeddings and {len(labels)} label sets")
    counts = Counter(a for clip in labels for a in clip if a[0] not in skip_types)
    vocabulary = sorted(a for a, c in counts.items() if c >= min_count)
    if not vocabulary:
        raise ValueError(f"no attribute is on {min_count} clips or more; lower min_count or add clips")
    _, k, t, _, d = hidden.shape
    torch.manual_seed(seed)
    tagger = AttributeTagger(
        vocabulary, frames=t, layers=k, width=d, video_dim=video.shape[1], hidden=hidden_size, inputs_id=inputs_id
    )
    with torch.no_grad():
        x = torch.cat([tagger.pool(hidden[i : i + 1024], video[i : i + 1024]) for i in range(0, len(hidden), 1024)])
        tagger.mean.copy_(x.mean(0))
        tagger.std.copy_(x.std(0) + 1e-5)
        x = (x - tagger.mean) / tagger.std
    index = {a: i for i, a in enumerate(vocabulary)}
    y = torch.zeros(len(labels), len(vocabulary))
    for row, clip in enumerate(labels):
        for a in clip:
            if a in index:
                y[row, index[a]] = 1.0
    opt = torch.optim.AdamW(tagger.mlp.parameters(), lr=lr, weight_decay=0.05)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    log = []
    tagger.train()
    for epoch in progress_bar(range(1, epochs + 1), desc="train tagger", unit="epoch", enabled=progress):
        order, total = torch.randperm(len(x), generator=gen), 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = loss_fn(tagger.mlp(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        log.append({"epoch": epoch, "loss": total / len(x)})
    tagger.eval()
    _round_to_half(tagger)
    tagger.model_id = tagger_id(tagger)
    return tagger, log


def _round_to_half(tagger: AttributeTagger) -> None:
    """The MLP weights as they are stored (half precision), so a saved and reloaded tagger scores the same."""
    with torch.no_grad():
        for p in tagger.mlp.parameters():
            p.copy_(p.half().float())


def save_tagger(tagger: AttributeTagger, directory: str | Path, info: Mapping[str, Any] | None = None) -> str:
    """Write ``model.safetensors`` and ``config.json`` (plus ``info``, e.g. training figures); returns the model id."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _round_to_half(tagger)
    tagger.model_id = tagger_id(tagger)
    state = {n: (t.half() if n.startswith("mlp.") else t.float()).contiguous() for n, t in tagger.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"))
    meta = {"format": FORMAT, "version": 1, "config": tagger.config(), "model_id": tagger.model_id, **(info or {})}
    (directory / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return tagger.model_id


def load_tagger(directory: str | Path) -> AttributeTagger:
    """Load a saved tagger and check its weights against the model id recorded beside them.

    Raises:
        FileNotFoundError: no tagger there. ValueError: not a tagger checkpoint, or weights that do not match the
            recorded model id.
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / "config.json").is_file() or not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(f"no attribute tagger at {directory} (model.safetensors and config.json)")
    meta = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{directory} does not hold an attribute tagger (format {meta.get('format')!r})")
    cfg = dict(meta["config"])
    tagger = AttributeTagger(cfg.pop("vocabulary"), **cfg)
    tagger.load_state_dict({n: t.float() for n, t in load_file(str(directory / "model.safetensors")).items()})
    tagger.eval()
    tagger.model_id = tagger_id(tagger)
    if tagger.model_id != meta.get("model_id"):
        raise ValueError(f"{directory}: weights hash to {tagger.model_id}, config.json records {meta.get('model_id')}")
    return tagger
