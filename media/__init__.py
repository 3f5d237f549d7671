"""Reading video and audio: probing, frame sampling, shot detection, thumbnails, audio extraction and ASR."""

from media.asr import Segment, Transcript, default_whisper_model, transcribe
from media.audio import extract_audio
from media.errors import EmptyFileError, MediaError, NoAudioStreamError, NotAVideoError, NoVideoStreamError
from media.frames import frame_indices, read_frame, sample_clips, sample_frames
from media.probe import VideoInfo, probe
from media.shots import ShotDetection, detect_shots
from media.thumbs import write_thumbnail
from media.writer import write_video

__all__ = [
    "EmptyFileError",
    "MediaError",
    "NoAudioStreamError",
    "NoVideoStreamError",
    "NotAVideoError",
    "Segment",
    "ShotDetection",
    "Transcript",
    "VideoInfo",
    "default_whisper_model",
    "detect_shots",
    "extract_audio",
    "frame_indices",
    "probe",
    "read_frame",
    "sample_clips",
    "sample_frames",
    "transcribe",
    "write_thumbnail",
    "write_video",
]
