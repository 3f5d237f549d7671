"""ASR as a stage: the speech of whole videos transcribed by faster-whisper, split into their clips' ``asr`` texts.

What ``adsearch ingest`` does inline for each video (``indexer.ingest``, unless ``--no-asr``), run as a stage
(``indexer.stage.ClipStage``) by the local runner or by Ray Data with the same per-item functions:

* an item is one video (``AsrItem``: its clips' ids and ranges; keyed by its first clip's id, as every stage's
  items are keyed by ``clip_id``);
* ``AudioReader`` decodes its audio track to 16 kHz mono (CPU; a video without an audio stream gives no samples);
* ``WhisperLoader`` loads the Whisper model (offline: the packaged tiny.en, or a model folder) where the stage runs
  and transcribes a batch of videos (``media.transcribe`` on the samples: silence is not sent to the model);
* the outputs (``media.Transcript``) are split into the clips' texts by ``media.asr.words_in_ranges``, the function
  ingest uses, under the source ``media.asr.whisper_source``: the same texts as ingest's inline ASR.

``transcribe_videos`` runs the stage and commits each batch with ``Catalog.write_transcripts`` (texts and the
``transcribed`` rows in one transaction), so a killed run resumes and a second run finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.runner import MAX_MAP_FAILURES, RunSummary
from indexer.stage import ClipStage, RayOptions, run_stage

if TYPE_CHECKING:
    from indexer.catalog import Catalog
    from media.asr import Transcript

__all__ = ["AsrItem", "AudioReader", "WhisperLoader", "asr_items", "transcribe_stage", "transcribe_videos"]

SAMPLE_RATE = 16000  # Whisper's input rate (media.asr reads files at this rate too)


@dataclass(frozen=True)
class AsrItem:
    """One video to transcribe: its first clip's id (the stage's key), its id and file, and its clips (ids and
    ranges in seconds, in shot order). Lists, not tuples: the Ray engine sends items as JSON."""

    clip_id: int
    video_id: int
    path: str
    clip_ids: list[int]
    starts: list[float]
    ends: list[float]

    @property
    def ranges(self) -> list[tuple[float, float]]:
        """The clips' (start_s, end_s)."""
        return list(zip(self.starts, self.ends, strict=True))


def asr_items(cat: Catalog) -> list[AsrItem]:
    """The ok videos with an audio stream that have no ``asr`` text and no ``transcribed`` row yet (e.g. ingested
    with ``--no-asr``), by video id, each with its clips."""
    rows = cat.query(
        "SELECT v.video_id, v.path, list(c.clip_id ORDER BY c.shot_index) AS clip_ids, "
        "list(c.start_s ORDER BY c.shot_index) AS starts, list(c.end_s ORDER BY c.shot_index) AS ends "
        "FROM videos v JOIN clips c USING (video_id) "
        "WHERE v.status = 'ok' AND v.has_audio "
        "AND v.video_id NOT IN (SELECT video_id FROM transcribed) "
        "AND v.video_id NOT IN (SELECT c2.video_id FROM texts t JOIN clips c2 USING (clip_id) WHERE t.kind = 'asr') "
        "GROUP BY v.video_id, v.path ORDER BY v.video_id"
    )
    return [
        AsrItem(r["clip_ids"][0], r["video_id"], r["path"], list(r["clip_ids"]), list(r["starts"]), list(r["ends"]))
        for r in rows
    ]


@dataclass(frozen=True)
class AudioReader:
    """The ASR stage's reader: the video's audio as float32 mono samples at 16 kHz (none without an audio stream).

    Raises (when called):
        MediaError: the file cannot be decoded (the item fails alone).
    """

    def __call__(self, item: AsrItem) -> np.ndarray:
        from media.audio import extract_audio
        from media.errors import NoAudioStreamError

        try:
            return extract_audio(item.path, sample_rate=SAMPLE_RATE)
        except NoAudioStreamError:
            return np.zeros(0, np.float32)


@dataclass(frozen=True)
class WhisperLoader:
    """The ASR stage's model: faster-whisper ``model`` (a model folder or size name; None: the packaged tiny.en,
    offline) loaded where the stage runs; maps a batch of audio samples to ``media.Transcript`` s, one video at a
    time (greedy decoding, English, as ingest's inline ASR). The model loads at the first batch."""

    model: str | None = None

    def __call__(self) -> Callable[[list[np.ndarray]], list[Transcript]]:
        from media.asr import load_whisper, transcribe

        model = self.model

        def map_batch(audios: list[np.ndarray]) -> list[Transcript]:
            # The model is loaded (once; cached) by every batch, even one of silent videos that never reach it: a
            # model that cannot load fails every batch (ModelError), not the videos one by one, on either engine.
            load_whisper(model)
            return [transcribe(a, model=model) for a in audios]

        return map_batch


def transcribe_stage(model: str | None = None) -> ClipStage:
    """The ASR stage (``AudioReader`` then ``WhisperLoader``), for either engine."""
    from media.asr import whisper_source

    return ClipStage(desc=f"transcribe {whisper_source(model)}", read=AudioReader(), load=WhisperLoader(model))


def transcribe_videos(
    cat: Catalog,
    items: Sequence[AsrItem],
    *,
    model: str | None = None,
    batch_size: int = 4,
    workers: int = 2,
    progress: bool = False,
    max_map_failures: int = MAX_MAP_FAILURES,
    on_failure: Callable[[AsrItem, str], None] | None = None,
    ray: RayOptions | None = None,
) -> RunSummary:
    """Transcribe ``items`` (``asr_items``) and write their clips' ``asr`` texts and ``transcribed`` rows to the
    open catalog ``cat``, batch by batch (one transaction each).

    Args:
        cat: The catalog, open for writing.
        items: Videos to transcribe.
        model: faster-whisper model folder or size name (None: the packaged tiny.en).
        batch_size: Videos per model call and per catalog write.
        workers: Audio-decoding threads (local runner).
        progress: Progress bar.
        max_map_failures: Batches in a row whose model call raised before the run stops with ``ModelError``.
        on_failure: Called with (video, error) for each video that failed (it is tried again by the next run).
        ray: Run on Ray Data (``indexer.ray_engine``) instead of the local runner.

    Returns:
        The run's summary (items are videos).

    Raises:
        ModelError: the model failed every batch (e.g. it cannot be loaded), or ``max_map_failures`` in a row.
    """
    from media.asr import whisper_source, words_in_ranges

    source = whisper_source(model)

    def write(batch: list[AsrItem], transcripts: Sequence[Any]) -> None:
        cat.write_transcripts(
            (it.video_id, source, list(zip(it.clip_ids, words_in_ranges(tr, it.ranges), strict=True)))
            for it, tr in zip(batch, transcripts, strict=True)
        )

    return run_stage(
        transcribe_stage(model),
        items,
        done=set(),
        write=write,
        on_failure=on_failure,
        batch_size=batch_size,
        workers=workers,
        prefetch=1,
        progress=progress,
        max_map_failures=max_map_failures,
        ray=ray,
    )
