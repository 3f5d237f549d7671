"""The causal LM: a tiny Llama built from scratch (trained), or a local pretrained model (frozen)."""

from __future__ import annotations

from pathlib import Path

from torch import nn
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from .config import LMConfig

__all__ = ["build_lm"]


def build_lm(config: LMConfig, *, vocab_size: int, pad_id: int, bos_id: int, eos_id: int) -> nn.Module:
    """Build the LM of ``config``.

    ``tiny_llama``: a ``LlamaForCausalLM`` with random weights and the catalog tokenizer's vocabulary.
    ``pretrained``: ``AutoModelForCausalLM.from_pretrained(config.path, gguf_file=config.gguf_file)`` from local
    files only (e.g. the directory holding SmolLM2-135M-Instruct's GGUF file, or Baichuan-13B), frozen.

    Raises:
        FileNotFoundError: If a pretrained LM's path does not exist.
    """
    if config.type == "tiny_llama":
        hf = LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=config.hidden_size,
            intermediate_size=config.intermediate_size,
            num_hidden_layers=config.layers,
            num_attention_heads=config.heads,
            num_key_value_heads=config.heads,
            max_position_embeddings=config.max_positions,
            pad_token_id=pad_id,
            bos_token_id=bos_id,
            eos_token_id=eos_id,
            tie_word_embeddings=True,
        )
        return LlamaForCausalLM(hf)
    path = Path(config.path or "")
    if not path.exists():
        raise FileNotFoundError(f"pretrained LM path {path} does not exist; point lm.path at a local model directory")
    kwargs = {"gguf_file": config.gguf_file} if config.gguf_file else {}
    lm = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, **kwargs)
    lm.requires_grad_(False)
    return lm
