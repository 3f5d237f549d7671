"""Tests of the config dataclasses, the JSON registry and create_model overrides."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from retrieval import (
    DEFAULT_CONFIG,
    add_model_config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    create_model,
    get_model_config,
    get_recipe,
    list_models,
    load_checkpoint,
    remove_model_config,
    save_checkpoint,
)
from tests.retrieval.retrieval_helpers import open_clip_text_config


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


def test_the_shipped_configs_carry_their_training_recipes():
    assert get_recipe("tiny") == {"lr": 5e-4, "epochs": 24, "amp_cpu": True}
    assert get_recipe("tiny-meanp") == get_recipe("tiny-crop") == {"lr": 5e-4, "epochs": 12}
    assert get_recipe("clipvip-b32") == {}  # no recipe: TrainConfig's defaults
    assert not hasattr(get_model_config("tiny"), "recipe"), "the recipe is not part of the architecture"
    assert DEFAULT_CONFIG in list_models()


def _user_config(**changes) -> dict:
    data = config_to_dict(open_clip_text_config())  # test size, open_clip text tower: builds in milliseconds
    data.pop("name")
    return {**data, **changes}


def test_a_user_json_config_is_registered_built_by_create_model_and_its_checkpoint_needs_no_registry(tmp_path):
    path = tmp_path / "my-tiny.json"
    path.write_text(json.dumps(_user_config(recipe={"epochs": 2, "lr": 1e-3})), encoding="utf-8")
    try:
        assert add_model_config(path) == ["my-tiny"]
        assert add_model_config(path) == ["my-tiny"], "adding the same file again is a no-op"
        assert "my-tiny" in list_models()
        assert get_recipe("my-tiny") == {"epochs": 2, "lr": 1e-3}
        model = create_model("my-tiny")
        assert model.config.name == "my-tiny" and model.config.vision.width == 64
        assert model.config == get_model_config("my-tiny")
        model_id = save_checkpoint(model, tmp_path / "ckpt")
    finally:
        assert remove_model_config(path) == ["my-tiny"]
    assert "my-tiny" not in list_models()
    with pytest.raises(ValueError, match="add_model_config"):
        create_model("my-tiny")
    assert load_checkpoint(tmp_path / "ckpt").model_id == model_id  # the checkpoint holds its whole config


def test_a_folder_of_user_configs_is_registered_whole_or_not_at_all(tmp_path):
    (tmp_path / "user-a.json").write_text(json.dumps(_user_config()), encoding="utf-8")
    (tmp_path / "user-b.json").write_text(json.dumps(_user_config(embed_dim=16)), encoding="utf-8")
    try:
        assert add_model_config(tmp_path) == ["user-a", "user-b"]
        assert get_model_config("user-b").embed_dim == 16
    finally:
        assert remove_model_config(tmp_path) == ["user-a", "user-b"]
    (tmp_path / "user-c.json").write_text('{"embed_dim": -1}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"user-c\.json is not valid: embed_dim must be positive"):
        add_model_config(tmp_path)
    assert not {"user-a", "user-b", "user-c"} & set(list_models())


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("syntax", '{"embed_dim": 32,', r"syntax\.json is not valid JSON: Expecting"),
        ("array", "[1, 2]", r"array\.json must hold a JSON object, got list"),
        ("field", json.dumps(_user_config(vision={"n_layers": 2})), r"field\.json is not valid: unknown vision field"),
        ("recipe", json.dumps(_user_config(recipe={"epoch": 3})), r"recipe\.json is not valid: unknown recipe field"),
        ("value", json.dumps(_user_config(vision={"head": "maxp"})), r"value\.json is not valid: vision\.head must"),
        ("tiny", json.dumps(_user_config()), "'tiny' .* is already registered from .*tiny.json; rename the file"),
    ],
)
def test_a_bad_user_config_is_refused_with_the_file_and_the_reason(tmp_path, name, text, message):
    path = tmp_path / f"{name}.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        add_model_config(path)
    assert name not in list_models() or name == "tiny"
    assert get_model_config("tiny").embed_dim == 256, "the shipped config is untouched"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        add_model_config(tmp_path / "missing.json")


def test_a_user_config_edited_into_an_invalid_one_fails_naming_its_file(tmp_path):
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(_user_config()), encoding="utf-8")
    add_model_config(path)
    try:
        path.write_text(json.dumps(_user_config(embed_dim=0)), encoding="utf-8")  # files are read on every call
        with pytest.raises(ValueError, match=r"edited\.json is not valid: embed_dim must be positive"):
            create_model("edited")
    finally:
        remove_model_config(path)
