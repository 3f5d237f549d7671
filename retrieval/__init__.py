"""CLIP-ViP video-text retriever: models from JSON configs, weight loading, training, and clip/query encoding.

Imports are lazy (PEP 562): ``import retrieval`` or ``from retrieval.onnx_text import ...`` does not import torch;
the first use of a name below imports its module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import load_checkpoint, load_video_tower, read_checkpoint_meta, save_checkpoint
    from .config import RecipeConfig, RetrieverConfig, TextConfig, VisionConfig, config_from_dict, config_to_dict
    from .dataset import ClipDataset, ClipItem, collate_clips
    from .encode import encode_clips, encode_queries
    from .evaluate import evaluate_retrieval
    from .factory import apply_overrides, create_model
    from .loss import clamp_logit_scale_, contrastive_loss, omnisource_loss
    from .metrics import mean_rank, median_rank, ranks_from_similarity, recall_at_k, retrieval_metrics
    from .model import VideoTextRetriever, VideoTower
    from .preprocess import preprocess_frames
    from .pretrained import LoadReport, load_pretrained, load_weights
    from .pretrained_tags import list_pretrained
    from .registry import (
        DEFAULT_CONFIG,
        add_model_config,
        get_model_config,
        get_recipe,
        list_models,
        remove_model_config,
    )
    from .train import TrainConfig, TrainResult, train_retriever, training_step

_LAZY = {
    "load_checkpoint": "checkpoint",
    "load_video_tower": "checkpoint",
    "read_checkpoint_meta": "checkpoint",
    "save_checkpoint": "checkpoint",
    "RecipeConfig": "config",
    "RetrieverConfig": "config",
    "TextConfig": "config",
    "VisionConfig": "config",
    "config_from_dict": "config",
    "config_to_dict": "config",
    "ClipDataset": "dataset",
    "ClipItem": "dataset",
    "collate_clips": "dataset",
    "encode_clips": "encode",
    "encode_queries": "encode",
    "evaluate_retrieval": "evaluate",
    "apply_overrides": "factory",
    "create_model": "factory",
    "clamp_logit_scale_": "loss",
    "contrastive_loss": "loss",
    "omnisource_loss": "loss",
    "mean_rank": "metrics",
    "median_rank": "metrics",
    "ranks_from_similarity": "metrics",
    "recall_at_k": "metrics",
    "retrieval_metrics": "metrics",
    "VideoTextRetriever": "model",
    "VideoTower": "model",
    "preprocess_frames": "preprocess",
    "LoadReport": "pretrained",
    "load_pretrained": "pretrained",
    "load_weights": "pretrained",
    "list_pretrained": "pretrained_tags",
    "DEFAULT_CONFIG": "registry",
    "add_model_config": "registry",
    "get_model_config": "registry",
    "get_recipe": "registry",
    "list_models": "registry",
    "remove_model_config": "registry",
    "TrainConfig": "train",
    "TrainResult": "train",
    "train_retriever": "train",
    "training_step": "train",
}

__all__ = [
    "DEFAULT_CONFIG",
    "ClipDataset",
    "ClipItem",
    "LoadReport",
    "RecipeConfig",
    "RetrieverConfig",
    "TextConfig",
    "TrainConfig",
    "TrainResult",
    "VideoTextRetriever",
    "VideoTower",
    "VisionConfig",
    "add_model_config",
    "apply_overrides",
    "clamp_logit_scale_",
    "collate_clips",
    "config_from_dict",
    "config_to_dict",
    "contrastive_loss",
    "create_model",
    "encode_clips",
    "encode_queries",
    "evaluate_retrieval",
    "get_model_config",
    "get_recipe",
    "list_models",
    "list_pretrained",
    "load_checkpoint",
    "load_pretrained",
    "load_video_tower",
    "load_weights",
    "mean_rank",
    "median_rank",
    "omnisource_loss",
    "preprocess_frames",
    "ranks_from_similarity",
    "read_checkpoint_meta",
    "recall_at_k",
    "remove_model_config",
    "retrieval_metrics",
    "save_checkpoint",
    "train_retriever",
    "training_step",
]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access (keeps ``import retrieval`` free of torch)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
