"""Convolutional patch stem: a stack of stride-2 3x3 convolutions in place of the ViT's single patchify convolution.

Xiao et al., "Early Convolutions Help Transformers See Better" (NeurIPS 2021): replacing the ``patch x patch``
stride-``patch`` convolution by log2(patch) stride-2 3x3 convolutions (BatchNorm + ReLU) and a final 1x1 projection
makes a ViT train faster and less sensitive to the learning rate, which is what a tiny model trained from scratch on
a few thousand clips needs. The output has the same shape as open_clip's ``conv1``: (N, width, H / patch, W / patch).

One definition for both model packages: the retriever's video tower (``retrieval.video_encoder``) and the
captioner's frozen frame encoder (``captioner.frame_encoder``), which loads the retriever's ``visual.conv1.*``
weights by these module keys.
"""

from __future__ import annotations

from torch import nn

__all__ = ["conv_stem"]


def conv_stem(width: int, patch_size: int) -> nn.Sequential:
    """The stem for ``width`` channels and a ``patch_size`` (a power of two >= 2) total stride.

    Channels double at each stride-2 convolution and reach ``width`` at the last one: for width 192 and patch 16,
    3 -> 24 -> 48 -> 96 -> 192, then a 1x1 convolution 192 -> 192. Module keys: ``0.weight``, ``1.weight`` (BatchNorm),
    ..., and the final convolution's ``weight`` and ``bias``.

    Raises:
        ValueError: If ``patch_size`` is not a power of two >= 2, or ``width`` is too small to halve that often.
    """
    n = patch_size.bit_length() - 1
    if patch_size < 2 or 1 << n != patch_size:
        raise ValueError(f"the conv stem needs a power-of-two patch_size >= 2, got {patch_size}")
    if width % (1 << (n - 1)):
        raise ValueError(
            f"the conv stem needs width divisible by {1 << (n - 1)} for patch_size {patch_size}, got {width}"
        )
    layers: list[nn.Module] = []
    c_in = 3
    for i in range(n):
        c_out = width >> (n - 1 - i)
        layers += [
            nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        c_in = c_out
    layers.append(nn.Conv2d(c_in, width, 1))
    return nn.Sequential(*layers)
