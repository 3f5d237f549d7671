"""captioner: SVAD-VLM (fine-grained video descriptions) and the BLIP-2-style general captioner."""

from .checkpoint import load_captioner, save_captioner
from .config import CaptionerConfig, config_from_dict, config_to_dict
from .data import CaptionItem, load_frames
from .factory import create_captioner
from .frame_encoder import FrameEncoder, vision_state_from_checkpoint
from .generate import generate_candidates, generate_captions
from .keywords import extract_keywords, make_pkg_example, parse_keywords
from .model import SVADVLM, Captioner, GeneralCaptioner
from .qformer import load_blip2_qformer
from .registry import (
    DEFAULT_CONFIGS,
    add_model_config,
    get_model_config,
    get_recipe,
    list_models,
    remove_model_config,
)
from .rerank import CaptionScorer
from .train import CaptionTrainConfig, CaptionTrainResult, train_captioner
from .video_prefix import VideoEmbedder

__all__ = [
    "DEFAULT_CONFIGS",
    "SVADVLM",
    "CaptionItem",
    "CaptionScorer",
    "CaptionTrainConfig",
    "CaptionTrainResult",
    "Captioner",
    "CaptionerConfig",
    "FrameEncoder",
    "GeneralCaptioner",
    "VideoEmbedder",
    "add_model_config",
    "config_from_dict",
    "config_to_dict",
    "create_captioner",
    "extract_keywords",
    "generate_candidates",
    "generate_captions",
    "get_model_config",
    "get_recipe",
    "list_models",
    "load_blip2_qformer",
    "load_captioner",
    "load_frames",
    "make_pkg_example",
    "parse_keywords",
    "remove_model_config",
    "save_captioner",
    "train_captioner",
    "vision_state_from_checkpoint",
]
