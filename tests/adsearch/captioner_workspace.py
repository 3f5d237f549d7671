"""A tiny workspace for the captioner CLI and benchmark tests: a synthetic catalog of real videos, ingested, a small
retriever checkpoint (random weights, real files) whose vision tower the captioners use, and both captioners
trained for one epoch through the CLI. Built once per test session; each caller gets its own copy."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from adsearch.cli import main
from adsearch.workspace import Workspace
from retrieval import create_model, save_checkpoint
from tests.retrieval.retrieval_helpers import open_clip_text_config

N_CLIPS = 24
SEED = 3


def build_workspace(root: Path) -> Path:
    """Synthesise and ingest ``N_CLIPS`` clips into ``root`` and save a tiny retriever as models/retriever-tiny."""
    with contextlib.redirect_stdout(io.StringIO()):
        args = ["--workspace", str(root), "synth", "--clips", str(N_CLIPS), "--seed", str(SEED), "--workers", "1"]
        assert main(args) == 0
        manifest = Workspace(root).synth_dir(N_CLIPS, SEED) / "manifest.jsonl"
        assert main(["--workspace", str(root), "ingest", str(manifest), "--workers", "1", "--no-asr", "--no-ocr"]) == 0
    retriever = create_model(open_clip_text_config(vision={"num_frames": 4}))
    save_checkpoint(retriever, Workspace(root).models_dir / "retriever-tiny")
    return root


def trained_workspace(factory: pytest.TempPathFactory, name: str) -> tuple[Path, dict[str, str]]:
    """A copy of the session's tiny workspace with both captioners trained (`adsearch train-captioner --kind K
    --epochs 1 --batch-size 32`, one step), and what each training command printed."""
    base = factory.getbasetemp() / "captioner-workspace"
    outputs_file = base / "train-outputs.json"
    if not outputs_file.is_file():
        build_workspace(base)
        outputs = {}
        for kind in ("fine", "general"):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                args = ["--workspace", str(base), "train-captioner", "--kind", kind, "--epochs", "1", "--batch-size"]
                assert main([*args, "32"]) == 0
            outputs[kind] = out.getvalue()
        outputs_file.write_text(json.dumps(outputs))
    copy = factory.mktemp(name)
    shutil.copytree(base, copy, symlinks=True, dirs_exist_ok=True)
    return copy, json.loads(outputs_file.read_text())
