"""The attribute tagger (``captioner.tagger``) and its text (``captioner.attribute_text``): it learns attributes that
its inputs show, saves and reloads to the same probabilities under its recorded id, and decodes and words them."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from captioner.attribute_text import attributes_text, decode_attributes
from captioner.tagger import AttributeTagger, fit_tagger, load_tagger, save_tagger

K, T, L, D, E = 2, 4, 6, 8, 5  # layers, frames, patch tokens, width, video embedding size


def _data(n: int = 400, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[set]]:
    """Clips whose attributes their inputs show: the pattern in the patch tokens of every frame, a wave in the CLS
    token of the last frames only (so it needs the per-frame CLS), the product colour in the video embedding."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, K, T, 1 + L, D, generator=g) * 0.3
    video = torch.randn(n, E, generator=g) * 0.3
    labels = []
    for i in range(n):
        pattern = ("striped", "dotted")[i % 2]
        hidden[i, :, :, 1:, 0] += 1.5 if pattern == "striped" else -1.5
        attrs = {("pattern", pattern), ("brand", "KOVA")}
        if (i // 2) % 2:
            hidden[i, -1, T // 2 :, 0, 1] += 2.0
            attrs.add(("move", "person", "wave"))
        colour = ("red", "blue", "green")[i % 3]
        video[i, (0, 1, 2)[i % 3]] += 2.0
        attrs.add(("product_colour", colour))
        if i == 0:
            attrs.add(("glasses",))  # on one clip only: under min_count
        labels.append(attrs)
    return hidden.half(), video, labels


@pytest.fixture(scope="module")
def fitted() -> tuple[AttributeTagger, list]:
    hidden, video, labels = _data()
    tagger, log = fit_tagger(hidden, video, labels, min_count=5, epochs=40, hidden_size=32, batch_size=64, lr=3e-3)
    return tagger, log


def test_it_learns_the_attributes_its_inputs_show_and_leaves_rare_ones_and_brands_out(fitted) -> None:
    tagger, log = fitted
    assert ("brand", "KOVA") not in tagger.vocabulary, "brands are OCR's"
    assert ("glasses",) not in tagger.vocabulary, "an attribute under min_count is left out"
    assert set(tagger.vocabulary) == {
        ("pattern", "striped"),
        ("pattern", "dotted"),
        ("move", "person", "wave"),
        ("product_colour", "red"),
        ("product_colour", "blue"),
        ("product_colour", "green"),
    }
    assert len(log) == 40 and log[-1]["loss"] < log[0]["loss"]
    hidden, video, labels = _data(n=60, seed=1)  # unseen clips
    probs = tagger.probabilities(hidden, video)
    index = {a: i for i, a in enumerate(tagger.vocabulary)}
    correct = sum((probs[r, index[a]] > 0.5) == (a in labels[r]) for r in range(len(labels)) for a in tagger.vocabulary)
    assert correct / (len(labels) * len(tagger.vocabulary)) > 0.95


def test_a_saved_tagger_reloads_to_the_same_probabilities_under_its_recorded_id(fitted, tmp_path) -> None:
    tagger, _ = fitted
    model_id = save_tagger(tagger, tmp_path / "t", info={"note": "kept"})
    meta = json.loads((tmp_path / "t" / "config.json").read_text())
    assert meta["model_id"] == model_id == tagger.model_id and model_id.startswith("tagger-")
    assert meta["note"] == "kept"
    state = load_file(str(tmp_path / "t" / "model.safetensors"))
    assert {str(t.dtype) for n, t in state.items() if n.startswith("mlp.")} == {"torch.float16"}
    again = load_tagger(tmp_path / "t")
    hidden, video, _ = _data(n=20, seed=2)
    assert torch.equal(again.probabilities(hidden, video), tagger.probabilities(hidden, video))
    assert again.vocabulary == tagger.vocabulary and again.model_id == model_id

    state["mlp.0.bias"] = state["mlp.0.bias"] + 1  # another model's weights under this id: refused
    save_file(state, str(tmp_path / "t" / "model.safetensors"))
    with pytest.raises(ValueError, match=r"config\.json records"):
        load_tagger(tmp_path / "t")
    with pytest.raises(FileNotFoundError, match="no attribute tagger"):
        load_tagger(tmp_path / "nothing")


def test_inputs_of_another_shape_are_a_clear_error(fitted) -> None:
    tagger, _ = fitted
    hidden, video, _ = _data(n=3)
    with pytest.raises(ValueError, match="do not fit this tagger"):
        tagger.probabilities(hidden[:, :, :2], video)


VOCAB = [
    ("noun", "woman"),
    ("noun", "man"),
    ("hair_colour", "red"),
    ("hair_colour", "blonde"),
    ("hair_style", "curly"),
    ("clothing", "yellow"),
    ("pattern", "dotted"),
    ("garment", "dress"),
    ("hat",),
    ("hat", "grey"),
    ("hat", "red"),
    ("glasses",),
    ("product", "cup"),
    ("product_colour", "purple"),
    ("material", "glass"),
    ("relation", "held"),
    ("setting", "street"),
    ("move", "person", "wave"),
    ("camera", "zoom_in"),
]


def test_decoding_keeps_one_value_per_single_valued_type_and_flags_over_their_threshold() -> None:
    p = dict.fromkeys(VOCAB, 0.1)
    p.update(
        {
            ("noun", "woman"): 0.9,
            ("noun", "man"): 0.6,  # the less probable noun is dropped
            ("hair_colour", "red"): 0.2,  # no hair colour reaches min_value
            ("hair_colour", "blonde"): 0.25,
            ("hat",): 0.7,
            ("hat", "grey"): 0.3,  # a kept item keeps its most probable colour, whatever its probability
            ("hat", "red"): 0.2,
            ("glasses",): 0.45,  # a flag under min_flag
            ("move", "person", "wave"): 0.8,
        }
    )
    got = decode_attributes([p[a] for a in VOCAB], VOCAB)
    assert got == [("noun", "woman"), ("hat",), ("hat", "grey"), ("move", "person", "wave")]
    p[("hat",)] = 0.4  # the item under its threshold: neither it nor its colour
    assert ("hat", "grey") not in decode_attributes([p[a] for a in VOCAB], VOCAB)
    with pytest.raises(ValueError, match="probabilities for"):
        decode_attributes([0.5], VOCAB)


def test_attributes_read_as_short_sentences_in_the_catalogs_words() -> None:
    attrs = [a for a in VOCAB if a not in {("noun", "man"), ("hair_colour", "blonde"), ("hat", "red")}]
    assert attributes_text(attrs) == (
        "On a city street. A woman with red curly hair, wearing a yellow polka dot dress. With a grey hat and "
        "glasses. A purple glass cup, held in hand. The person waves. The camera zooms in."
    )
    assert attributes_text([("product", "cup")]) == "A cup."
    assert attributes_text([]) == ""
