"""``adsearch pretrain``: disjoint data, resumable training, and the export that ``create_model`` loads."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from adsearch.pretrain import PretrainRecipe, _items, export_pretrained, pretrain
from adsearch.workspace import Workspace
from retrieval import create_model, list_pretrained
from retrieval.pretrained_tags import load_tag_weights

SMALL = PretrainRecipe(seeds=(5,), clips_per_catalog=12, epochs=1, batch_size=4, avoid=(12, 0))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("pretrain-ws"))
    status = pretrain(ws, "synth-v1", workers=1, progress=False, recipe=SMALL)
    return ws, status


def test_training_data_leave_the_evaluation_catalog_and_test_comp_out(pretrained):
    ws, status = pretrained
    train, evals = _items(ws)
    assert status["epochs_completed"] == 1 and status["train_clips"] == len(train) > 0
    eval_ids = {it.clip_id for items in evals.values() for it in items}
    assert evals["test"] and not eval_ids & {it.clip_id for it in train}
    assert all("pretrain-s5" in it.path for it in train)
    assert not any("test_comp" in json.dumps(it.texts) for it in train)  # texts never name a split; sanity only
    again = pretrain(ws, "synth-v1", workers=1, progress=False, recipe=SMALL)  # resumes: nothing left to train
    assert again["model_id"] == status["model_id"]


def test_export_ships_half_precision_without_the_frozen_backbone_and_reloads_as_recorded(pretrained, tmp_path):
    ws, _ = pretrained
    dest = export_pretrained(ws, "synth-v1", dest_root=tmp_path, recipe=SMALL)
    meta = json.loads((dest / "config.json").read_text())
    with safe_open(str(dest / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        dtypes = {str(f.get_tensor(k).dtype) for k in keys}
    assert keys and not any(k.startswith("text.backbone.") for k in keys)
    assert "torch.float16" in dtypes and not dtypes & {"torch.float32", "torch.float64"}  # int buffers stay
    assert load_tag_weights("tiny", dest).model_id == meta["model_id"]
    assert "R@1" in (dest / "MODEL_CARD.md").read_text() and (dest / "train_log.jsonl").is_file()


def test_unknown_tag_is_a_clear_error():
    with pytest.raises(ValueError, match="no pretrained tag 'nope'"):
        from retrieval.pretrained_tags import tag_dir

        tag_dir("tiny", "nope")


def test_the_demo_retriever_ships_with_the_package():
    assert ("tiny", "synth-v1") in list_pretrained()


@pytest.mark.parametrize(("model", "tag"), list_pretrained())
def test_shipped_weights_load_with_their_recorded_model_id(model, tag):
    from retrieval.pretrained_tags import tag_dir

    meta = json.loads((tag_dir(model, tag) / "config.json").read_text())
    net = create_model(model, pretrained=tag)
    assert net.model_id == meta["model_id"] and net.config.pretrained is None


def test_a_recipe_with_init_starts_from_that_tags_weights(pretrained):
    import dataclasses

    import torch

    from adsearch.pretrain import checkpoint_dir, status_path
    from retrieval import load_checkpoint

    ws, _ = pretrained
    recipe = dataclasses.replace(SMALL, init="synth-v1", lr=1e-12, partial_caption_prob=0.5)  # lr ~0: weights stay
    status = pretrain(ws, "init-check", workers=1, progress=False, recipe=recipe)
    assert status_path(ws, "init-check").is_file() and status["recipe"]["init"] == "synth-v1"
    trained = load_checkpoint(checkpoint_dir(ws, "init-check", recipe)).state_dict()
    shipped = create_model("tiny", pretrained="synth-v1").state_dict()
    scratch = create_model("tiny").state_dict()
    key = "visual.transformer.resblocks.0.attn.in_proj_weight"
    assert key in trained
    assert torch.allclose(trained[key], shipped[key], atol=1e-3)
    assert not torch.allclose(trained[key], scratch[key], atol=1e-3)
