"""Small media files encoded with PyAV for the demo tests: moving squares and a sine tone."""
from __future__ import annotations

import os

import av
import cv2
import numpy as np

TONE_HZ = 440.0


def tone(seconds: float, rate: int) -> np.ndarray:
    """A 0.3-amplitude sine, float32 ``[1, seconds * rate]``."""
    time = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * TONE_HZ * time)).astype(np.float32)[None]


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]``: grey background with a bright square that moves with ``index``."""
    image = np.full((height, width, 3), 90, dtype=np.uint8)
    left = (index * 3) % max(1, width - height // 2)
    image[height // 4: 3 * height // 4, left: left + height // 2] = (230, 200, 40)
    return image


def encode_video(path: str, seconds: int, fps: int, width: int, height: int,
                 audio_rate: int | None = 16000) -> None:
    """An mpeg4 video (``seconds * fps`` frames) with an AAC tone track unless ``audio_rate`` is None."""
    with av.open(path, "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=audio_rate, layout="mono") if audio_rate else None
        for index in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(frame_image(index, width, height), format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            samples = tone(seconds, audio_rate)
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(samples[:, start:start + 1024]), format="flt", layout="mono"
                )
                chunk.sample_rate = audio_rate
                chunk.pts = start
                container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))


def write_wav(path: str, seconds: float, rate: int = 22050) -> None:
    """A 16-bit PCM wav tone."""
    with av.open(path, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        samples = (tone(seconds, rate) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_frame_folder(folder: str, num_frames: int, width: int, height: int) -> None:
    """AVSBench layout: ``folder/frames/0.jpg ...`` and ``folder/audio.wav``."""
    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    for index in range(num_frames):
        bgr = cv2.cvtColor(frame_image(index * 10, width, height), cv2.COLOR_RGB2BGR)
        cv2.imwrite(os.path.join(folder, "frames", f"{index}.jpg"), bgr)
    write_wav(os.path.join(folder, "audio.wav"), num_frames)
