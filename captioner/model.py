"""Captioners: ``SVADVLM`` (frames -> ViT -> GMHRA -> Q-Former -> dual alignment -> LM) and the BLIP-2-style
``GeneralCaptioner`` (the same Q-Former + LM parts on one middle frame, without GMHRA)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn

from .alignment import DualAlignment
from .config import CaptionerConfig
from .frame_encoder import FrameEncoder, image_hw, preprocess_frames
from .gmhra import GMHRA
from .lm import build_lm
from .qformer import QFormer
from .rerank import CaptionScorer
from .tokenizer import BOS, EOS, PAD
from .video_prefix import VideoEmbedder, VideoPrefix

__all__ = ["SVADVLM", "Captioner", "GeneralCaptioner"]


class Captioner(nn.Module):
    """Shared parts of both captioners. Attributes of the public API: ``model_id``, ``kind``, ``num_frames``,
    ``image_size`` (int for square frames, else (height, width)), ``video_embedder`` (a
    :class:`~captioner.video_prefix.VideoEmbedder` the caller attaches when ``config.video_prefix_tokens`` > 0) and
    ``caption_scorer`` (a :class:`~captioner.rerank.CaptionScorer` attached when ``config.rerank_samples`` > 0)."""

    def __init__(
        self,
        *,
        config: CaptionerConfig,
        vision_config: Mapping,
        vision_state_dict: Mapping | None,
        tokenizer: Tokenizer,
    ) -> None:
        super().__init__()
        self.config = config
        self.kind = config.kind
        self.num_frames = config.num_frames
        h, w = image_hw(vision_config)
        self.image_size: int | tuple[int, int] = h if h == w else (h, w)
        self.model_id = config.name  # replaced by save_captioner / train_captioner with a content-hashed id
        self.tokenizer = tokenizer
        self.pad_id, self.bos_id, self.eos_id = (tokenizer.token_to_id(t) for t in (PAD, BOS, EOS))
        self.encoder = FrameEncoder(
            vision_config=vision_config, num_layers=config.vision_layers, state_dict=vision_state_dict
        )
        width = self.encoder.width
        self.gmhra = self._build_gmhra(width)
        self.ln_vision = nn.LayerNorm(width)
        self.qformer = QFormer(config=config.qformer, encoder_width=width)
        self.lm = build_lm(
            config.lm, vocab_size=tokenizer.get_vocab_size(), pad_id=self.pad_id, bos_id=self.bos_id, eos_id=self.eos_id
        )
        self.align = DualAlignment(
            in_width=config.qformer.hidden_size,
            out_width=self.lm.get_input_embeddings().embedding_dim,
            dual=config.dual_alignment,
        )
        self.video_prefix: VideoPrefix | None = None
        if config.video_prefix_tokens:
            if config.video_embedding_dim < 1:
                raise ValueError(
                    f"config {config.name!r} reads a video embedding (video_prefix_tokens "
                    f"{config.video_prefix_tokens}): set video_embedding_dim to its size"
                )
            self.video_prefix = VideoPrefix(
                dim=config.video_embedding_dim,
                tokens=config.video_prefix_tokens,
                width=self.lm.get_input_embeddings().embedding_dim,
            )
        self.video_embedder: VideoEmbedder | None = None  # not a module: frozen, outside, not saved
        self.video_embedder_id: str | None = None  # the embedder trained with (set by training and loading)
        self.caption_scorer: CaptionScorer | None = None  # reranks sampled captions (see rerank.py); not saved

    def _build_gmhra(self, width: int) -> nn.Module | None:
        return None

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(name, parameter) pairs that training updates: all but the frozen ViT (and a frozen pretrained LM)."""
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def encode_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, T, H, W, 3) -> frozen ViT tokens (B, K, T', 1+L, D); T' = 1 for the general model."""
        device = next(self.parameters()).device
        if self.kind == "general" and frames.shape[1] != 1:
            mid = frames.shape[1] // 2
            frames = frames[:, mid : mid + 1]  # (B, 1, H, W, 3) the middle frame
        x = preprocess_frames(frames, vision_config=self.encoder.vision_config, device=device)
        return self.encoder(x)

    def attach_video_embedder(self, embedder: VideoEmbedder) -> None:
        """Attach the frozen clip embedder the video prefix reads.

        Raises:
            ValueError: The model has no video prefix, the embedding size differs, or the model was trained with
                another embedder (its embeddings would mean something else to the prefix).
        """
        if self.video_prefix is None:
            raise ValueError(f"captioner {self.model_id} has no video prefix (config video_prefix_tokens is 0)")
        if embedder.dim != self.config.video_embedding_dim:
            raise ValueError(
                f"video embedder {embedder.model_id} gives {embedder.dim}-d embeddings; the captioner was built for "
                f"{self.config.video_embedding_dim}"
            )
        if self.video_embedder_id is not None and embedder.model_id != self.video_embedder_id:
            raise ValueError(
                f"captioner {self.model_id} was trained on the video embeddings of {self.video_embedder_id}, not "
                f"{embedder.model_id}; retrain the captioner on the current retriever"
            )
        self.video_embedder = embedder
        self.video_embedder_id = embedder.model_id

    def attach_caption_scorer(self, scorer: CaptionScorer) -> None:
        """Attach the video-text scorer that reranks sampled captions (``config.rerank_samples`` > 0)."""
        self.caption_scorer = scorer

    def encode_video(self, frames: np.ndarray) -> torch.Tensor | None:
        """uint8 frames (B, T, H, W, 3) -> the attached embedder's (B, dim) clip embeddings; None without a prefix.

        Raises:
            RuntimeError: The model reads a video embedding and no embedder is attached.
        """
        if self.video_prefix is None:
            return None
        if self.video_embedder is None:
            raise RuntimeError(
                "this captioner reads the retriever's video embedding: attach_video_embedder() first "
                "(adsearch attaches the retriever the captioner was trained with)"
            )
        with torch.no_grad():
            return self.video_embedder(np.asarray(frames)).float().to(next(self.parameters()).device)

    def visual_sequence(self, hidden: torch.Tensor) -> torch.Tensor:
        """Frozen tokens (B, K, T, 1+L, D) -> the Q-Former's encoder sequence (B, S, D)."""
        z = self.gmhra(hidden) if self.gmhra is not None else hidden[:, -1].flatten(1, 2)
        return self.ln_vision(z)

    def prefix_embeds(
        self,
        hidden: torch.Tensor,
        aux_mask: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
        video: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frozen tokens (and video embeddings) -> the LM's visual input embeddings (B, P + N, E).

        ``rows`` (B,) picks, per example, its clip in ``hidden``: the Q-Former runs once per clip even when the
        clip has several examples (description, keyword, primary and auxiliary). ``video`` (clips, dim) feeds the
        ``P`` video-prefix tokens placed before the N aligned queries (required when the config has a prefix).
        """
        queries = self.qformer(self.visual_sequence(hidden.float()))  # (clips, N, H)
        if rows is not None:
            queries = queries[rows]  # (B, N, H)
        visual = self.align(queries, aux_mask)  # (B, N, E)
        if self.video_prefix is None:
            return visual
        if video is None:
            raise ValueError("this captioner reads a video embedding per clip: pass video (see encode_video)")
        prefix = self.video_prefix(video.float())  # (clips, P, E)
        if rows is not None:
            prefix = prefix[rows]
        return torch.cat([prefix.to(visual.dtype), visual], dim=1)

    def token_losses(
        self,
        hidden: torch.Tensor,
        prompts: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        aux_mask: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
        chunks: int = 1,
        video: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean next-token cross-entropy over each example's target (+ EOS), shape (B,).

        Sequence per example: ``[video prefix][visual queries][BOS][prompt][target][EOS]``, right-padded. With
        ``chunks`` > 1 the examples are sorted by length and run through the LM in that many groups, each padded
        only to its own longest (long descriptions and short captions in one batch then waste little on padding).
        """
        visual = self.prefix_embeds(hidden, aux_mask, rows, video)  # (B, P + N, E)
        seqs = [[self.bos_id, *p, *t, self.eos_id] for p, t in zip(prompts, targets, strict=True)]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        losses = visual.new_empty(len(seqs))
        for group in np.array_split(np.asarray(order), max(1, min(chunks, len(seqs)))):
            idx = torch.as_tensor(group, device=visual.device)
            losses[idx] = self._sequence_losses(visual[idx], [seqs[i] for i in group], [len(prompts[i]) for i in group])
        return losses

    def _sequence_losses(self, visual: torch.Tensor, seqs: list[list[int]], prompt_lens: list[int]) -> torch.Tensor:
        device = visual.device
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        labels = torch.full_like(ids, -100)
        for i, (s, n_prompt) in enumerate(zip(seqs, prompt_lens, strict=True)):
            ids[i, : len(s)] = torch.tensor(s)
            labels[i, 1 + n_prompt : len(s)] = torch.tensor(s[1 + n_prompt :])  # target + EOS
        ids, labels = ids.to(device), labels.to(device)
        text = self.lm.get_input_embeddings()(ids)  # (B, S, E)
        embeds = torch.cat([visual.to(text.dtype), text], dim=1)  # (B, N + S, E)
        ones = torch.ones(visual.shape[:2], dtype=torch.long, device=device)
        mask = torch.cat([ones, (ids != self.pad_id).long()], dim=1)  # (B, N + S)
        mask[:, visual.shape[1]] = 1  # BOS may share the pad id in a pretrained vocabulary
        # The LM head runs only where a target token is predicted: a keyword example's long masked-description
        # prompt and the visual tokens are read but never scored, so their logits are not computed.
        hidden = self.lm.base_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state  # (B, N + S, E)
        scored = labels != -100  # (B, S); position j is predicted from hidden position N - 1 + j
        logits = self.lm.get_output_embeddings()(hidden[:, visual.shape[1] - 1 : -1][scored])  # (targets, V)
        loss = F.cross_entropy(logits.float(), labels[scored], reduction="none")
        per_example = torch.zeros(labels.shape, dtype=loss.dtype, device=device).masked_scatter(scored, loss)
        return per_example.sum(1) / scored.sum(1).clamp(min=1)

    def encode_text(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens added)."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids


class SVADVLM(Captioner):
    """The fine-grained describer: T frames, GMHRA over the last K layers, dual alignment."""

    def _build_gmhra(self, width: int) -> nn.Module:
        return GMHRA(
            width=width, heads=self.config.gmhra_heads, num_layers=self.config.vision_layers, grid=self.encoder.grid
        )


class GeneralCaptioner(Captioner):
    """BLIP-2-style image captioner: the clip's middle frame, last ViT layer, Q-Former, one alignment, LM."""
