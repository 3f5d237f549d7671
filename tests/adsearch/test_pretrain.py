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
    from adsearch.defaults import DEFAULT_PRETRAINED_TAG, DEFAULT_RETRIEVER_CONFIG

    assert (DEFAULT_RETRIEVER_CONFIG, DEFAULT_PRETRAINED_TAG) in list_pretrained()


def test_the_shipped_tagger_loads_with_its_recorded_id_and_pairs_with_the_shipped_fine_captioner(tmp_path):
    from adsearch.defaults import DEFAULT_PRETRAINED_TAG
    from adsearch.pretrain_captioners import install_pretrained_captioner
    from adsearch.retriever import install_pretrained
    from adsearch.tagger import install_pretrained_tagger, load_workspace_tagger, shipped_tagger_dir

    meta = json.loads((shipped_tagger_dir(DEFAULT_PRETRAINED_TAG) / "config.json").read_text())
    ws = Workspace(tmp_path)
    install_pretrained(ws, tag=DEFAULT_PRETRAINED_TAG)
    install_pretrained_captioner(ws, "fine", DEFAULT_PRETRAINED_TAG)
    assert install_pretrained_tagger(ws, DEFAULT_PRETRAINED_TAG).model_id == meta["model_id"]
    net, tagger = load_workspace_tagger(ws)
    assert tagger.model_id == meta["model_id"] and net.model_id == meta["captioner_model_id"]
    assert meta["training"]["avoid"] == [1500, 0], "never trained on the default catalog"


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


def test_captioners_pretrain_export_and_install_on_the_tags_retriever(pretrained, tmp_path):
    import dataclasses

    from adsearch.captioner import load_trained_captioner
    from adsearch.pretrain_captioners import export_captioners, install_pretrained_captioner, pretrain_captioners
    from adsearch.retriever import install_pretrained
    from captioner import generate_captions, load_frames

    ws, _ = pretrained
    recipe = dataclasses.replace(SMALL, captioner_epochs=1)
    status = pretrain_captioners(ws, "synth-v1", progress=False, recipe=recipe)
    assert set(status["captioners"]) == {"fine", "general"}
    again = pretrain_captioners(ws, "synth-v1", progress=False, recipe=recipe)  # resumes: nothing left to train
    assert {k: v["model_id"] for k, v in again["captioners"].items()} == {
        k: v["model_id"] for k, v in status["captioners"].items()
    }

    shipped_root = tmp_path / "weights"
    dests = export_captioners(ws, "synth-v1", dest_root=shipped_root, recipe=recipe)
    assert sorted(d.name for d in dests) == ["tiny-fine-synth-v1", "tiny-general-synth-v1"]
    for dest in dests:
        meta = json.loads((dest / "config.json").read_text())
        with safe_open(str(dest / "model.safetensors"), "pt") as f:
            keys = list(f.keys())
            dtypes = {str(f.get_tensor(k).dtype) for k in keys}
        assert keys and not any(k.startswith("encoder.") for k in keys) and dtypes == {"torch.float16"}
        retriever_id = create_model("tiny", pretrained="synth-v1").model_id
        assert meta["retriever_model_id"] == retriever_id
        assert meta["video_embedder"] == (retriever_id if meta["kind"] == "fine" else None)
        assert "CIDEr" in (dest / "MODEL_CARD.md").read_text() and meta["metrics"]["clips"] > 0

    user = Workspace(tmp_path / "user")  # a fresh workspace: the tag's retriever, then its captioners
    install_pretrained(user, tag="synth-v1")
    for kind in ("fine", "general"):
        out_dir, model_id = install_pretrained_captioner(user, kind, "synth-v1", root=shipped_root)
        meta = json.loads((shipped_root / f"tiny-{kind}-synth-v1" / "config.json").read_text())
        assert model_id == meta["model_id"]
        assert install_pretrained_captioner(user, kind, "synth-v1", root=shipped_root) == (out_dir, model_id)
    net = load_trained_captioner(user, "fine")
    train, _ = _items(ws)
    item = next(it for it in train)
    from captioner import CaptionItem

    clip = CaptionItem(clip_id=item.clip_id, path=item.path, start_s=item.start_s, end_s=item.end_s)
    assert generate_captions(net, [load_frames(net, clip)], samples=2)[0].strip()

    other = Workspace(tmp_path / "other")  # a retriever of other weights: refused with the fix named
    from retrieval import save_checkpoint

    save_checkpoint(create_model("tiny"), other.models_dir / "retriever-tiny")
    for kind in ("fine", "general"):
        with pytest.raises(ValueError, match="install the retriever of tag synth-v1 first"):
            install_pretrained_captioner(other, kind, "synth-v1", root=shipped_root)

    # the tag's attribute tagger: trained on the shipped fine captioner's inputs, shipped, installed, paired
    from adsearch.tagger import install_pretrained_tagger, load_workspace_tagger, pretrain_tagger

    out = pretrain_tagger(
        ws,
        "synth-v1",
        recipe=recipe,
        epochs=2,
        min_count=1,
        captioner_root=shipped_root,
        dest_root=tmp_path / "taggers",
        progress=False,
    )
    dest = tmp_path / "taggers" / "tagger-synth-v1"
    meta = json.loads((dest / "config.json").read_text())
    assert meta["model_id"] == out["model_id"] and meta["training"]["seeds"] == list(recipe.seeds)
    assert meta["training"]["train_clips"] == len(_items(ws)[0]), "the clips the captioners train on"
    assert meta["metrics"]["default_catalog_test"]["clips"] > 0 and "accuracy" in (dest / "MODEL_CARD.md").read_text()
    installed = install_pretrained_tagger(user, "synth-v1", root=tmp_path / "taggers")
    assert installed.model_id == out["model_id"]
    _, paired = load_workspace_tagger(user)
    assert paired.model_id == out["model_id"], "the tagger pairs with the fine captioner of its tag"
