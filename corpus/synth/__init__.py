"""The synthetic ad catalog: the project's embedded default catalog and the ground truth of its retrieval benchmark."""

from corpus.synth.catalog import SynthCatalog, build_records, generate_catalog, video_name
from corpus.synth.plan import SPLIT_SHARES, CatalogPlan, VideoSpec, heldout_combinations, plan_catalog
from corpus.synth.queries import USER_QUERIES_NAME, UserQuery, read_user_queries, user_queries
from corpus.synth.render import render_frames, render_shot, render_video
from corpus.synth.scene import Shot, primary_combination
from corpus.synth.stats import catalog_stats, format_stats
from corpus.synth.text import ShotTexts, describe_shot, general_caption
from corpus.synth.voiceover import voiceover

__all__ = [
    "SPLIT_SHARES",
    "USER_QUERIES_NAME",
    "CatalogPlan",
    "Shot",
    "ShotTexts",
    "SynthCatalog",
    "UserQuery",
    "VideoSpec",
    "build_records",
    "catalog_stats",
    "describe_shot",
    "format_stats",
    "general_caption",
    "generate_catalog",
    "heldout_combinations",
    "plan_catalog",
    "primary_combination",
    "read_user_queries",
    "render_frames",
    "render_shot",
    "render_video",
    "user_queries",
    "video_name",
    "voiceover",
]
