"""The captioners' frozen frame encoder rebuilt from a trained retriever's checkpoint, for each retriever stem."""

from __future__ import annotations

import pytest
import torch

from adsearch.captioner import retriever_vision
from adsearch.workspace import Workspace
from captioner import FrameEncoder
from retrieval import create_model, save_checkpoint
from tests.retrieval.retrieval_helpers import open_clip_text_config


@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_frame_encoder_loads_the_retrievers_vision_tower(tmp_path, stem):
    ws = Workspace(tmp_path)
    retriever = create_model(open_clip_text_config(vision={"image_size": [48, 32], "stem": stem}))
    if stem == "conv":  # move the BatchNorm statistics away from their init so that loading them is checked
        retriever.train()
        with torch.no_grad():
            retriever.encode_video(torch.randn(2, 3, 3, 48, 32) * 2 + 1)
    retriever.eval()
    save_checkpoint(retriever, ws.models_dir / "retriever-tiny")
    vision_config, state = retriever_vision(ws)
    assert vision_config["stem"] == stem
    encoder = FrameEncoder(vision_config=vision_config, num_layers=1, state_dict=state)  # strict load
    x = torch.randn(4, 3, 48, 32)
    with torch.no_grad():
        torch.testing.assert_close(encoder.vit.conv1(x), retriever.visual.conv1(x), rtol=0, atol=0)
        tokens = encoder(x.unsqueeze(0))  # (1, K=1, T=4, 1 + L, D)
    assert tokens.shape == (1, 1, 4, 1 + 6 * 4, retriever.config.vision.width)
