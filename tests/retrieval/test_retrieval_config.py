"""Tests of the config dataclasses, the JSON registry and create_model overrides."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from retrieval import apply_overrides, config_from_dict, config_to_dict, get_model_config, list_models


def test_registry_lists_the_shipped_configs():
    assert list_models() == ["clipvip-b16", "clipvip-b32", "tiny", "tiny-crop", "tiny-meanp"]


def test_tiny_sees_the_whole_vertical_frame_and_tiny_crop_differs_only_in_frame_size_and_stem():
    tiny = get_model_config("tiny")
    v = tiny.vision
    assert v.image_size == (112, 64) and v.grid_hw == (7, 4) and v.num_patches == 28 and v.stem == "conv"
    assert config_from_dict(json.loads(json.dumps(config_to_dict(tiny)))) == tiny  # JSON list -> (H, W) tuple
    crop = get_model_config("tiny-crop")
    assert crop.vision.image_hw == (96, 96) and crop.vision.grid_hw == (6, 6) and crop.vision.stem == "patch"
    a, b = config_to_dict(tiny), config_to_dict(crop)
    for d in (a, b):
        d.pop("name")
        d["vision"] = _without(_without(d["vision"], "image_size"), "stem")
    assert a == b
    meanp = get_model_config("tiny-meanp").vision
    assert meanp.head == "meanp" and meanp.image_hw == v.image_hw and meanp.stem == v.stem


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


@pytest.mark.parametrize(
    ("size", "match"),
    [([176, 100], "multiple of patch_size"), ([176], "height, width"), ([0, 96], "positive"), ("96", "height")],
)
def test_bad_frame_sizes_are_rejected(size, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(get_model_config("tiny"), vision={"image_size": size})


def test_paper_configs_mirror_clip_vip():
    for name, patch in (("clipvip-b32", 32), ("clipvip-b16", 16)):
        cfg = get_model_config(name)
        v = cfg.vision
        assert (v.patch_size, v.image_size, v.num_frames, v.num_proxies, v.temporal_size) == (patch, 224, 12, 4, 12)
        assert (v.width, v.layers, v.heads, v.head) == (768, 12, 12, "proxy")
        assert cfg.text.tower == "open_clip" and cfg.quick_gelu and cfg.pretrained.endswith(":openai")
        assert cfg.init_logit_scale == pytest.approx(math.log(100))
        assert cfg.max_logit_scale == pytest.approx(math.log(200))
    assert get_model_config("tiny-meanp").vision.head == "meanp"
    assert get_model_config("tiny").text.tower == "sentence_transformers"


def test_configs_are_frozen_and_round_trip_through_json_dicts():
    cfg = get_model_config("tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.embed_dim = 3
    assert config_from_dict(config_to_dict(cfg)) == cfg
    changed = dataclasses.replace(cfg, vision=dataclasses.replace(cfg.vision, layers=2))
    assert changed.vision.layers == 2 and cfg.vision.layers != 2


def test_unknown_names_and_fields_are_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="registered configs"):
        get_model_config("vit-huge")
    with pytest.raises(ValueError, match="valid fields"):
        config_from_dict({"name": "x", "vision": {"n_layers": 2}})
    with pytest.raises(ValueError, match="valid fields"):
        apply_overrides(get_model_config("tiny"), depth=3)
    with pytest.raises(ValueError, match=r"vision\.head"):
        apply_overrides(get_model_config("tiny"), vision={"head": "maxp"})
    with pytest.raises(ValueError, match="multiple of patch_size"):
        apply_overrides(get_model_config("tiny"), vision={"image_size": 100})


def test_nested_overrides_merge():
    cfg = apply_overrides(get_model_config("clipvip-b32"), pretrained=None, vision={"layers": 2})
    assert cfg.vision.layers == 2 and cfg.vision.width == 768 and cfg.pretrained is None
