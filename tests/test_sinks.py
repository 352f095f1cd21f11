"""Frame sinks: write short synthetic clips to every format and read them back with PyAV."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from runtime.outputs.sinks import open_sink
from video_files import decode
from seethrough_core.character import InputError

W, H, N, FPS = 64, 48, 12, 30
CLEAR_X = 40   # columns from here on are fully transparent


def clip_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A horizontal red gradient that moves with i, green steps per frame, and a transparent
    right-hand band. Few distinct colours, so even a GIF keeps them exactly."""
    frame = np.zeros((h, w, 4), np.uint8)
    x = np.arange(w)
    frame[..., 0] = ((x * 4 + i * 8) % 256).astype(np.uint8)[None, :]
    frame[..., 1] = (40 + 15 * i) % 256
    frame[..., 2] = 160
    frame[..., 3] = 255
    frame[:, CLEAR_X:, 3] = 0
    return frame


def write_clip(path: Path, n: int = N, size: tuple[int, int] = (W, H), **kwargs) -> None:
    with open_sink(path, size, fps=FPS, **kwargs) as sink:
        for i in range(n):
            sink.write(clip_frame(i, *size))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def straight_over_black(frame: np.ndarray) -> np.ndarray:
    a = frame[..., 3:4].astype(np.float64) / 255
    return frame[..., :3] * a


# ------------------------------------------------------------------------------- the formats

def test_mp4_is_h264_with_the_right_frames_and_colours(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path)
    frames, info = decode(path, fmt="rgb24")
    assert (info.codec, info.width, info.height, info.rate, len(frames)) == ("h264", W, H, FPS, N)
    for i in (0, N // 2, N - 1):
        expected = straight_over_black(clip_frame(i))
        got = frames[i].astype(np.float64)
        # Inside the opaque part, away from the 4:2:0 chroma edge at the transparent band.
        err = np.abs(got[:, 2:CLEAR_X - 4] - expected[:, 2:CLEAR_X - 4])
        assert err.mean() < 3 and err.max() < 16, (i, err.mean(), err.max())
        assert got[:, CLEAR_X + 4:].max() < 10     # transparent over the black background


def test_mp4_lays_transparency_over_the_background_colour(tmp_path: Path) -> None:
    path = tmp_path / "white.mp4"
    write_clip(path, n=3, background=(255, 255, 255))
    frames, _ = decode(path, fmt="rgb24")
    assert frames[0][:, CLEAR_X + 4:].min() > 245


def test_mp4_pads_odd_sizes_to_even(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with open_sink(path, (W - 1, H - 1), fps=FPS) as sink:
        assert sink.encoded_size == (W, H)
        for i in range(3):
            sink.write(clip_frame(i, W - 1, H - 1))
    frames, info = decode(path, fmt="rgb24")
    assert (info.width, info.height, len(frames)) == (W, H, 3)
    expected = straight_over_black(clip_frame(0, W - 1, H - 1))
    assert np.abs(frames[0][:H - 1, 2:CLEAR_X - 4] - expected[:, 2:CLEAR_X - 4]).mean() < 3


def test_webm_is_vp9_with_real_alpha(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    write_clip(path)
    frames, info = decode(path, codec="libvpx-vp9")
    assert (info.codec, info.width, info.height, info.rate, len(frames)) == ("vp9", W, H, FPS, N)
    assert info.metadata.get("alpha_mode") == "1"   # the muxer's flag that an alpha layer is stored
    for i in (0, N - 1):
        alpha = frames[i][..., 3]
        assert alpha[:, :CLEAR_X - 4].min() >= 250
        assert alpha[:, CLEAR_X + 4:].max() <= 5
        expected = clip_frame(i)[..., :3].astype(np.float64)
        err = np.abs(frames[i][:, 2:CLEAR_X - 4, :3] - expected[:, 2:CLEAR_X - 4])
        assert err.mean() < 4, err.mean()
    # FFmpeg's built-in vp9 decoder does not see the alpha layer: it is side data.
    plain, _ = decode(path)
    assert plain[0][..., 3].min() == 255


def test_mov_is_prores_4444_with_alpha(tmp_path: Path) -> None:
    path = tmp_path / "clip.mov"
    write_clip(path)
    frames, info = decode(path)
    assert (info.codec, info.width, info.height, info.rate, len(frames)) == ("prores", W, H, FPS, N)
    assert info.profile == "4444" and info.tag == "ap4h"
    for i in (0, N - 1):
        alpha = frames[i][..., 3]
        assert alpha[:, :CLEAR_X].min() == 255 and alpha[:, CLEAR_X:].max() == 0
        expected = clip_frame(i)[..., :3].astype(np.float64)
        assert np.abs(frames[i][:, :CLEAR_X, :3] - expected[:, :CLEAR_X]).max() <= 3


def test_opaque_webm_has_no_alpha_layer(tmp_path: Path) -> None:
    path = tmp_path / "opaque.webm"
    write_clip(path, n=3, background_is_transparent=False, background=(0, 0, 255))
    frames, info = decode(path, codec="libvpx-vp9")
    assert info.metadata.get("alpha_mode") != "1"
    assert frames[0][..., 3].min() == 255
    assert frames[0][:, CLEAR_X + 4:, 2].min() > 240 and frames[0][:, CLEAR_X + 4:, 0].max() < 15


def test_gif_keeps_frames_colours_and_transparency(tmp_path: Path) -> None:
    path = tmp_path / "clip.gif"
    write_clip(path)
    frames, info = decode(path)
    assert (info.codec, info.width, info.height, len(frames)) == ("gif", W, H, N)
    for i in (0, 5, N - 1):
        assert frames[i][:, :CLEAR_X, 3].min() == 255 and frames[i][:, CLEAR_X:, 3].max() == 0
        np.testing.assert_array_equal(frames[i][:, :CLEAR_X, :3], clip_frame(i)[:, :CLEAR_X, :3])
    with Image.open(path) as image:
        delays = []
        for k in range(image.n_frames):
            image.seek(k)
            delays.append(image.info["duration"])
    assert set(delays) <= {30, 40}                       # whole centiseconds ...
    assert sum(delays) == pytest.approx(1000 * N / FPS, abs=10)   # ... adding up to 30 fps


def test_opaque_gif_has_no_transparency(tmp_path: Path) -> None:
    path = tmp_path / "opaque.gif"
    write_clip(path, n=2, background_is_transparent=False, background=(10, 200, 30))
    frames, _ = decode(path)
    assert frames[0][..., 3].min() == 255
    np.testing.assert_array_equal(frames[0][:, CLEAR_X:, :3], np.broadcast_to([10, 200, 30],
                                                                             (H, W - CLEAR_X, 3)))


def test_png_is_the_first_frame_with_alpha(tmp_path: Path) -> None:
    path = tmp_path / "still.png"
    with open_sink(path, (W, H)) as sink:
        for i in range(3):
            sink.write(clip_frame(i))
        assert sink.frames_written == 3
    np.testing.assert_array_equal(np.asarray(Image.open(path)), clip_frame(0))
    frames, info = decode(path)
    assert info.codec == "png" and len(frames) == 1
    np.testing.assert_array_equal(frames[0], clip_frame(0))


def test_png_sequence_folder_holds_every_frame(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    write_clip(folder)
    names = leftovers(folder)
    assert names == [f"frame_{i:05d}.png" for i in range(N)]
    for i in (0, N - 1):
        np.testing.assert_array_equal(np.asarray(Image.open(folder / names[i])), clip_frame(i))
    assert leftovers(tmp_path) == ["frames"]


def test_png_sequence_replaces_an_earlier_sequence_only(tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    write_clip(folder, n=5)
    write_clip(str(folder) + "/", n=2)           # a trailing slash also means a folder
    assert leftovers(folder) == ["frame_00000.png", "frame_00001.png"]
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="other files"):
        open_sink(folder, (W, H))
    assert (folder / "notes.txt").read_text() == "mine"


def test_opaque_png_is_laid_over_the_background(tmp_path: Path) -> None:
    path = tmp_path / "opaque.png"
    with open_sink(path, (W, H), background_is_transparent=False, background=(0, 0, 0)) as sink:
        sink.write(clip_frame(0))
    pixels = np.asarray(Image.open(path))
    assert pixels.shape == (H, W, 4) and pixels[..., 3].min() == 255
    np.testing.assert_array_equal(pixels[:, CLEAR_X:, :3], 0)
    np.testing.assert_array_equal(pixels[:, :CLEAR_X, :3], clip_frame(0)[:, :CLEAR_X, :3])


# ------------------------------------------------------------------------------ atomicity

@pytest.mark.parametrize("name", ["a.mp4", "a.webm", "a.mov", "a.gif", "a.png", "seq"])
def test_an_exception_inside_with_leaves_nothing(tmp_path: Path, name: str) -> None:
    with pytest.raises(RuntimeError, match="renderer crashed"):
        with open_sink(tmp_path / name, (W, H), fps=FPS) as sink:
            sink.write(clip_frame(0))
            sink.write(clip_frame(1))
            raise RuntimeError("renderer crashed")
    assert leftovers(tmp_path) == []


def test_a_failed_render_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "keep.mp4"
    write_clip(path, n=2)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="opened for"):
        with open_sink(path, (W, H), fps=FPS) as sink:
            sink.write(clip_frame(0))
            sink.write(np.zeros((10, 10, 4), np.uint8))   # wrong size
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == ["keep.mp4"]


def test_closing_without_frames_saves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        with open_sink(tmp_path / "empty.webm", (W, H)):
            pass
    assert leftovers(tmp_path) == []


def test_a_sink_dropped_without_close_leaves_nothing(tmp_path: Path) -> None:
    sink = open_sink(tmp_path / "dropped.gif", (W, H))
    sink.write(clip_frame(0))
    del sink
    import gc
    gc.collect()
    assert leftovers(tmp_path) == []


def test_close_twice_and_write_after_close(tmp_path: Path) -> None:
    sink = open_sink(tmp_path / "x.png", (W, H))
    sink.write(clip_frame(0))
    sink.close()
    sink.close()
    with pytest.raises(ValueError, match="closed"):
        sink.write(clip_frame(1))
    assert leftovers(tmp_path) == ["x.png"]


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, message", [
    (dict(path="clip.avi"), "cannot write '.avi'"),
    (dict(path="clip.mp4", size=(0, 10)), "positive"),
    (dict(path="clip.mp4", size="big"), "width, height"),
    (dict(path="clip.mp4", fps=0), "fps"),
    (dict(path="clip.mp4", fps="fast"), "fps"),
    (dict(path="clip.gif", fps=60), "fps 50 or less"),
    (dict(path="clip.mp4", background=(0, 0, 300)), "0-255"),
    (dict(path="clip.gif", audio_from="song.wav"), "cannot carry audio"),
    (dict(path="frames", audio_from="song.wav"), "cannot carry audio"),
])
def test_bad_requests_are_input_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    kwargs = {"size": (W, H), **kwargs}
    kwargs["path"] = tmp_path / kwargs["path"]
    with pytest.raises(InputError, match=message):
        open_sink(**kwargs)
    assert leftovers(tmp_path) == []


def test_an_unwritable_place_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write .* is a file, not a folder"):
        open_sink(blocker / "clip.mp4", (W, H))     # a folder that is really a file
    with pytest.raises(InputError, match="cannot write .* is a file, not a folder"):
        open_sink(blocker / "still.png", (W, H))


def test_a_file_in_place_of_the_folder_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "frames").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        open_sink(tmp_path / "frames", (W, H))


def test_ntsc_rates_are_exact(tmp_path: Path) -> None:
    sink = open_sink(tmp_path / "ntsc.mp4", (W, H), fps=29.97)
    assert sink.fps == Fraction(30000, 1001)
    sink.abort()
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------- audio

def make_tone(path: Path, fmt: str, codec: str, seconds: float, rate: int = 44100) -> Path:
    """A 440 Hz stereo tone at amplitude 0.3."""
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        stream.codec_context.open()
        size = stream.codec_context.frame_size or 1024
        sample_fmt = stream.codec_context.format.name
        total = int(rate * seconds)
        for start in range(0, total, size):
            n = min(size, total - start)
            tone = 0.3 * np.sin(2 * np.pi * 440 * (start + np.arange(n)) / rate)
            if sample_fmt == "s16":
                data = (np.repeat(tone, 2) * 32767).astype(np.int16)[None, :]
            else:
                data = np.stack([tone, tone]).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout="stereo")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")
    return {"wav": make_tone(folder / "tone.wav", "wav", "pcm_s16le", 1.0),
            "m4a": make_tone(folder / "tone.m4a", "mp4", "aac", 1.0)}


def audio_of(path: Path) -> tuple[str, float, float, int]:
    """Codec, duration (s), RMS of the decoded samples, video frame count."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        codec = stream.codec_context.name
        samples = [f.to_ndarray().astype(np.float64).reshape(-1) for f in container.decode(stream)]
        rate = stream.codec_context.sample_rate
        channels = stream.codec_context.channels
    with av.open(str(path)) as container:
        video_frames = sum(1 for _ in container.decode(video=0))
    pcm = np.concatenate(samples)
    return codec, pcm.size / channels / rate, float(np.sqrt(np.mean(pcm ** 2))), video_frames


@pytest.mark.parametrize("ext, source, codec", [
    ("mp4", "wav", "aac"),     # PCM does not fit mp4: transcoded
    ("mp4", "m4a", "aac"),     # AAC fits: remuxed
    ("mov", "m4a", "aac"),
    ("webm", "m4a", "opus"),   # webm takes Opus/Vorbis only: transcoded
])
def test_audio_is_carried_over_and_cut_to_the_video(tmp_path: Path, tones, ext, source,
                                                    codec) -> None:
    path = tmp_path / f"talk.{ext}"
    write_clip(path, n=15, audio_from=tones[source])   # 0.5 s of video, 1 s of tone
    got_codec, seconds, rms, video_frames = audio_of(path)
    assert got_codec == codec and video_frames == 15
    assert 0.4 <= seconds <= 0.5 + 0.1     # cut at the video's end (within an audio frame)
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.2)   # the tone, not silence
    assert leftovers(tmp_path) == [f"talk.{ext}"]


def test_remuxed_audio_keeps_the_packets(tmp_path: Path, tones) -> None:
    path = tmp_path / "long.mp4"
    write_clip(path, n=45, audio_from=tones["m4a"])   # 1.5 s of video: all of the tone
    with av.open(str(tones["m4a"])) as src, av.open(str(path)) as out:
        a = [bytes(p) for p in src.demux(audio=0) if p.size]
        b = [bytes(p) for p in out.demux(audio=0) if p.size]
    assert a == b


def test_audio_source_problems_are_input_errors(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    write_clip(silent, n=2)
    with pytest.raises(InputError, match="no audio stream"):
        open_sink(tmp_path / "out.mp4", (W, H), audio_from=silent)
    with pytest.raises(InputError, match="no such file"):
        open_sink(tmp_path / "out.mp4", (W, H), audio_from=tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(InputError, match="cannot read"):
        open_sink(tmp_path / "out.mp4", (W, H), audio_from=junk)
    assert leftovers(tmp_path) == ["junk.wav", "silent.mp4"]
