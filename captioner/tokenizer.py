"""Byte-level BPE tokenizer trained on the catalog's texts (HF ``tokenizers``), saved with the checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

__all__ = ["BOS", "EOS", "KEYWORD_PLACEHOLDER", "PAD", "load_tokenizer", "train_tokenizer"]

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
KEYWORD_PLACEHOLDER = "<kw>"  # stands for the masked keyword in prompt-guided keyword generation
SPECIAL_TOKENS = [PAD, BOS, EOS, KEYWORD_PLACEHOLDER]
TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 2048) -> Tokenizer:
    """Train a byte-level BPE on ``texts`` (lossless: decode(encode(s)) == s); ids 0..3 are the special tokens.

    Raises:
        ValueError: If ``texts`` is empty.
    """
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("no texts to train the captioner tokenizer on; give the catalog's descriptions/captions")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Read ``tokenizer.json`` from a checkpoint directory."""
    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"captioner tokenizer {path} is missing; re-save the checkpoint")
    return Tokenizer.from_file(str(path))
