"""Shapes and gradients of every captioner part at test size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from captioner import (
    DEFAULT_CONFIGS,
    FrameEncoder,
    add_model_config,
    config_to_dict,
    get_model_config,
    get_recipe,
    list_models,
    load_blip2_qformer,
    remove_model_config,
    vision_state_from_checkpoint,
)
from captioner.alignment import DualAlignment
from captioner.config import QFormerConfig
from captioner.gmhra import GMHRA
from captioner.qformer import QFormer
from tests.captioner.captioner_helpers import SMALL, VISION, small_captioner, vision_checkpoint


def test_registry_lists_the_agreed_models():
    names = list_models()
    assert {"tiny-fine", "tiny-general", "svad-paper", "blip2-paper"} <= set(names)
    assert get_model_config("svad-paper").qformer.num_queries == 32
    with pytest.raises(ValueError, match="registered configs"):
        get_model_config("nope")
    assert set(DEFAULT_CONFIGS.values()) <= set(names)
    assert get_recipe("tiny-fine")["epochs"] == 10


def test_a_user_json_config_is_registered_and_built_by_create_captioner(tmp_path):
    data = config_to_dict(get_model_config("tiny-general"))
    data.pop("name")
    data["recipe"] = {**data["recipe"], "epochs": 3}
    path = tmp_path / "my-general.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    try:
        assert add_model_config(path) == ["my-general"]
        model = small_captioner("my-general")
        assert model.config.name == "my-general" and model.config.kind == "general"
        assert get_recipe("my-general")["epochs"] == 3
    finally:
        assert remove_model_config(path) == ["my-general"]
    assert "my-general" not in list_models()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"kind": "fine",', r"bad\.json is not valid JSON"),
        ('{"kind": "coarse"}', r"bad\.json is not valid: captioner kind must be 'fine' or 'general'"),
        ('{"qformer": {"queries": 4}}', r"bad\.json is not valid: unknown qformer config keys \['queries'\]"),
        ('{"qformer": 4}', r"bad\.json is not valid"),
    ],
)
def test_a_bad_user_captioner_config_is_refused_with_the_file_and_the_reason(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        add_model_config(path)
    assert "bad" not in list_models()


def test_frame_encoder_loads_retriever_keys_and_returns_last_layers():
    checkpoint = vision_checkpoint()
    checkpoint["visual.video_proxy.tokens"] = torch.randn(4, 32)
    state = vision_state_from_checkpoint(checkpoint)
    assert not any(k.startswith(("video_proxy", "temporal_embedding", "text")) for k in state)
    # The retriever's untrained CLS token is replaced by its trained video proxy 0.
    assert torch.equal(state["class_embedding"], checkpoint["visual.video_proxy.tokens"][0])
    assert not torch.equal(state["class_embedding"], checkpoint["visual.class_embedding"])
    enc = FrameEncoder(vision_config=VISION, num_layers=2, state_dict=state)
    assert torch.equal(enc.vit.conv1.weight, state["conv1.weight"])
    assert torch.equal(enc.vit.class_embedding, checkpoint["visual.video_proxy.tokens"][0])
    out = enc(torch.randn(2, 3, 3, 32, 32))
    assert out.shape == (2, 2, 3, 1 + 16, 32)  # (B, K, T, 1 + L, D)
    assert not any(p.requires_grad for p in enc.parameters())
    with pytest.raises(ValueError, match="do not fit"):
        FrameEncoder(vision_config={**VISION, "width": 48, "heads": 2}, num_layers=1, state_dict=state)
    with pytest.raises(ValueError, match="prefix"):
        vision_state_from_checkpoint(vision_checkpoint(), prefix="vision_model.")


def test_gmhra_leaves_frame_tokens_unchanged_at_init_and_learns():
    gmhra = GMHRA(width=32, heads=2, num_layers=2, grid=(4, 4))
    hidden = torch.randn(2, 2, 3, 17, 32, requires_grad=True)  # (B, K, T, 1 + L, D)
    z = gmhra(hidden)
    assert z.shape == (2, 1 + 3 * 17, 32)
    assert torch.equal(z[:, 1:], hidden[:, -1].flatten(1, 2))  # frame tokens = last layer's, exactly
    assert torch.allclose(z[:, 0], gmhra.token[0].expand(2, -1))  # zero-init outputs: token unchanged
    z.pow(2).mean().backward()
    grads = {n: p.grad for n, p in gmhra.named_parameters()}
    assert grads["blocks.0.attn.out_proj.weight"].abs().sum() > 0
    assert grads["frame_pos.weight"].abs().sum() > 0
    with torch.no_grad():
        gmhra.frame_pos.weight.fill_(0.1)
        gmhra.blocks[1].attn.out_proj.weight.fill_(0.1)
    z2 = gmhra(hidden)
    assert not torch.allclose(z2[:, 1:], hidden[:, -1].flatten(1, 2))
    assert not torch.allclose(z2[:, 0], z[:, 0])


def test_qformer_shapes_backward_and_blip2_load():
    config = QFormerConfig(num_queries=4, hidden_size=32, layers=2, heads=2, intermediate_size=64)
    qf = QFormer(config=config, encoder_width=24)
    z = torch.randn(2, 10, 24, requires_grad=True)
    out = qf(z)
    assert out.shape == (2, 4, 32)
    out.sum().backward()
    assert z.grad.abs().sum() > 0 and qf.query_tokens.grad.abs().sum() > 0
    blip2 = {k: torch.full_like(v, 0.5) for k, v in qf.state_dict().items() if k != "query_tokens"}
    blip2["query_tokens"] = torch.ones_like(qf.query_tokens)
    blip2["qformer.extra.weight"] = torch.zeros(1)
    blip2["vision_model.x"] = torch.zeros(1)
    del blip2["qformer.layernorm.bias"]
    report = load_blip2_qformer(qf, blip2)
    assert report == {"missing": ["qformer.layernorm.bias"], "unexpected": ["qformer.extra.weight"]}
    assert torch.equal(qf.query_tokens, torch.ones_like(qf.query_tokens))
    assert torch.equal(qf.qformer.layernorm.weight, torch.full_like(qf.qformer.layernorm.weight, 0.5))
    with pytest.raises(ValueError, match="qformer"):
        load_blip2_qformer(qf, {"vision_model.x": torch.zeros(1)})


def test_alignment_layers_get_gradients_from_their_own_batches_only():
    align = DualAlignment(in_width=8, out_width=6)
    q = torch.randn(4, 3, 8)
    align(q, torch.tensor([False, False, False, False])).sum().backward()
    assert align.primary.weight.grad.abs().sum() > 0 and align.aux.weight.grad is None
    align.zero_grad(set_to_none=True)
    align(q, torch.tensor([True, True, True, True])).sum().backward()
    assert align.aux.weight.grad.abs().sum() > 0 and align.primary.weight.grad is None
    align.zero_grad(set_to_none=True)
    mixed = align(q, torch.tensor([True, False, True, False]))
    assert torch.allclose(mixed[1], align.primary(q[1])) and torch.allclose(mixed[0], align.aux(q[0]))
    mixed[1].sum().backward()
    assert align.primary.weight.grad.abs().sum() > 0 and align.aux.weight.grad.abs().sum() == 0


@pytest.mark.parametrize("name", ["tiny-fine", "tiny-general"])
def test_full_model_backward_reaches_trained_parts_only(name):
    model = small_captioner(name)
    frames = torch.randint(0, 255, (2, model.num_frames, 32, 32, 3), dtype=torch.uint8)
    hidden = model.encode_frames(frames)
    k, t = (2, 4) if name == "tiny-fine" else (1, 1)
    assert hidden.shape == (2, k, t, 17, 32)
    prompt = model.encode_text("a red square")
    video = model.encode_video(frames)  # the fine model reads a video embedding, the general one none
    assert (video is None) == (name == "tiny-general")
    losses = model.token_losses(hidden, [prompt, prompt], [model.encode_text("moves left"), [5]], video=video)
    assert losses.shape == (2,) and torch.isfinite(losses).all()
    losses.sum().backward()
    trained = dict(model.trainable_parameters())
    assert not any(n.startswith("encoder.") for n in trained)
    prefixes = ["qformer.", "align.primary", "lm.", "ln_vision"]
    prefixes += ["gmhra.", "video_prefix."] if name == "tiny-fine" else []
    for prefix in prefixes:
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in trained.items() if n.startswith(prefix))
    assert (model.gmhra is None) == (name == "tiny-general")


def test_vision_weights_of_the_retriever_checkpoint_file(tmp_path):
    from safetensors.torch import save_file

    save_file(vision_checkpoint(), str(tmp_path / "model.safetensors"))
    state = vision_state_from_checkpoint(load_file(str(tmp_path / "model.safetensors")))
    assert FrameEncoder(vision_config=VISION, num_layers=1, state_dict=state).num_layers == 1


def test_create_captioner_loads_blip2_qformer_weights_from_config(tmp_path):
    from safetensors.torch import save_file

    donor = small_captioner("tiny-fine")
    weights = {k: torch.full_like(v, 0.25) for k, v in donor.qformer.state_dict().items()}
    save_file(weights, str(tmp_path / "blip2.safetensors"))
    model = small_captioner(
        "tiny-fine", qformer={**SMALL["qformer"], "pretrained": str(tmp_path / "blip2.safetensors")}
    )
    assert torch.equal(model.qformer.query_tokens, weights["query_tokens"])
    with pytest.raises(FileNotFoundError, match="BLIP-2 weights"):
        small_captioner("tiny-fine", qformer={**SMALL["qformer"], "pretrained": str(tmp_path / "missing")})


def test_video_prefix_leads_the_lm_input_and_only_it_reads_the_embedding():
    model = small_captioner("tiny-fine").eval()  # no dropout: the two passes must be comparable
    p, n = model.config.video_prefix_tokens, model.config.qformer.num_queries
    frames = torch.randint(0, 255, (2, model.num_frames, 32, 32, 3), dtype=torch.uint8)
    hidden, video = model.encode_frames(frames), model.encode_video(frames)
    assert video.shape == (2, 8) and p == 4
    visual = model.prefix_embeds(hidden, video=video)
    assert visual.shape == (2, p + n, model.lm.get_input_embeddings().embedding_dim)
    swapped = model.prefix_embeds(hidden, video=video.flip(0))
    assert torch.equal(swapped[:, p:], visual[:, p:])  # the queries do not see the embedding
    assert torch.allclose(swapped[:, :p], visual.flip(0)[:, :p]) and not torch.allclose(swapped[0, :p], visual[0, :p])
    with pytest.raises(ValueError, match="pass video"):
        model.prefix_embeds(hidden)


def test_video_embedder_is_required_checked_and_pinned():
    from tests.captioner.captioner_helpers import colour_embedder

    with pytest.raises(ValueError, match="pass video_embedder"):
        small_captioner("tiny-fine", video_embedder=None)
    plain = small_captioner("tiny-fine", video_prefix_tokens=0, video_embedder=None)
    assert plain.video_prefix is None and plain.encode_video(np.zeros((1, 4, 32, 32, 3), np.uint8)) is None
    with pytest.raises(ValueError, match="no video prefix"):
        plain.attach_video_embedder(colour_embedder())

    model = small_captioner("tiny-fine")
    assert model.video_embedder_id == "colour-embedder-0"
    with pytest.raises(ValueError, match="16-d embeddings"):
        model.attach_video_embedder(colour_embedder(dim=16))
    with pytest.raises(ValueError, match="retrain the captioner"):  # trained on another embedder's vectors
        model.attach_video_embedder(colour_embedder(model_id="colour-embedder-1"))
    model.video_embedder = None
    with pytest.raises(RuntimeError, match="attach_video_embedder"):
        model.encode_video(np.zeros((1, 4, 32, 32, 3), np.uint8))


def test_token_losses_equal_the_full_lm_cross_entropy_on_the_targets():
    """The LM head runs on target positions only; the losses must be those of the full logits."""
    torch.manual_seed(0)
    model = small_captioner("tiny-fine").eval()
    frames = torch.randint(0, 255, (2, model.num_frames, 32, 32, 3), dtype=torch.uint8)
    hidden, video = model.encode_frames(frames), model.encode_video(frames)
    prompts = [model.encode_text("a red square moves"), model.encode_text("a")]
    targets = [model.encode_text("left"), model.encode_text("blue square moves up across the grey frame")]
    rows = torch.tensor([1, 0])
    got = model.token_losses(hidden, prompts, targets, rows=rows, chunks=2, video=video)
    visual = model.prefix_embeds(hidden, rows=rows, video=video)
    for i, (prompt, target) in enumerate(zip(prompts, targets, strict=True)):
        ids = torch.tensor([model.bos_id, *prompt, *target, model.eos_id])
        embeds = torch.cat([visual[i], model.lm.get_input_embeddings()(ids)])[None]
        logits = model.lm(inputs_embeds=embeds).logits[0]
        first = visual.shape[1] + len(prompt)  # hidden position that predicts the first target token
        expected = torch.nn.functional.cross_entropy(logits[first : first + len(target) + 1], ids[1 + len(prompt) :])
        assert torch.allclose(got[i], expected, atol=1e-5), (i, got[i], expected)
