"""CLIP-ViP video-text retriever: models from JSON configs, weight loading, training, and clip/query encoding."""

from .checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
from .config import RetrieverConfig, TextConfig, VisionConfig, config_from_dict, config_to_dict
from .dataset import ClipDataset, ClipItem, collate_clips
from .encode import encode_clips, encode_queries
from .evaluate import evaluate_retrieval
from .factory import apply_overrides, create_model
from .loss import clamp_logit_scale_, contrastive_loss, omnisource_loss
from .metrics import mean_rank, median_rank, ranks_from_similarity, recall_at_k, retrieval_metrics
from .model import VideoTextRetriever
from .preprocess import preprocess_frames
from .pretrained import LoadReport, load_pretrained, load_weights
from .pretrained_tags import list_pretrained
from .registry import get_model_config, list_models
from .train import TrainConfig, TrainResult, train_retriever, training_step

__all__ = [
    "ClipDataset",
    "ClipItem",
    "LoadReport",
    "RetrieverConfig",
    "TextConfig",
    "TrainConfig",
    "TrainResult",
    "VideoTextRetriever",
    "VisionConfig",
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
    "list_models",
    "list_pretrained",
    "load_checkpoint",
    "load_pretrained",
    "load_weights",
    "mean_rank",
    "median_rank",
    "omnisource_loss",
    "preprocess_frames",
    "ranks_from_similarity",
    "read_checkpoint_meta",
    "recall_at_k",
    "retrieval_metrics",
    "save_checkpoint",
    "train_retriever",
    "training_step",
]
