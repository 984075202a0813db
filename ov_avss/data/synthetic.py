"""A small synthetic dataset in the exact AVSBench-semantic (and AVSBench-object) layouts.

Each category has a distinct look (shape, colour, texture) and a distinct sound (a pure tone or a
narrow noise band, centre frequencies spaced geometrically so that VGGish log-mel bands tell them
apart). A video holds 1-3 categories (sometimes two instances of one) that move across a textured
background; in every second only some categories sound, and only sounding objects are in the
mask. Visible-but-silent objects are common, so a model that ignores the audio cannot score well.
The training split holds base categories only; val and test mix base and novel ones.

Everything is drawn from one ``numpy`` generator seeded by ``seed``: the same arguments give
byte-identical files.
"""
from __future__ import annotations

import csv
import io
import json
import os
import wave
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from ..utils.file_io import atomic_open
from .categories import BACKGROUND, BASE_CATEGORIES, CATEGORIES, CATEGORY_TO_INDEX, NOVEL_CATEGORIES
from .datasets.avsbench_object import OBJECT_DIR
from .datasets.avsbench_semantic import LABEL_FILE, METADATA_FILE, SEMANTIC_DIR
from .palette import colorize

SAMPLE_RATE = 16000
DEFAULT_CATEGORIES = ("car", "dog", "guitar", "helicopter", "piano", "trumpet", "accordion", "tabla", "violin")
DEFAULT_SIZE = (128, 128)
_SHAPES = ("disc", "square", "triangle", "diamond", "ring", "cross", "hbar", "vbar", "ellipse")
_TEXTURES = ("solid", "hstripes", "vstripes", "checker", "dots")
_LOWEST_HZ, _HIGHEST_HZ = 220.0, 6400.0
_FADE_SECONDS = 0.01
# Subset mix of the videos: v1s (single source, 5 s), v1m (multi source, 5 s), v2 (10 s).
_SUBSETS = ("v1s", "v1m", "v2")
_SUBSET_PROBABILITIES = (0.3, 0.4, 0.3)
_SUBSET_FRAMES = {"v1s": 5, "v1m": 5, "v2": 10}


@dataclass(frozen=True)
class CategoryStyle:
    """How one synthetic category looks and sounds."""

    name: str
    shape: str
    texture: str
    color: tuple[int, int, int]
    sound: str  # "tone" or "noise"
    frequency_hz: float


def category_styles(names: Sequence[str]) -> dict[str, CategoryStyle]:
    """Deterministic look and sound of each category, by its position in ``names``."""
    count = len(names)
    styles = {}
    for i, name in enumerate(names):
        hue = int(180 * i / max(count, 1))  # OpenCV hue range is 0..179
        hsv = np.array([[[hue, 220, 230 if i % 2 == 0 else 170]]], dtype=np.uint8)
        rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
        frequency = _LOWEST_HZ * (_HIGHEST_HZ / _LOWEST_HZ) ** (i / max(count - 1, 1))
        styles[name] = CategoryStyle(
            name=name,
            shape=_SHAPES[i % len(_SHAPES)],
            texture=_TEXTURES[(i + i // len(_SHAPES)) % len(_TEXTURES)],
            color=(int(rgb[0]), int(rgb[1]), int(rgb[2])),
            sound="tone" if i % 2 == 0 else "noise",
            frequency_hz=float(frequency),
        )
    return styles


@dataclass
class _Instance:
    style: CategoryStyle
    center: np.ndarray  # (y, x) in pixels
    velocity: np.ndarray  # pixels per frame
    radius: float


@dataclass
class SyntheticVideo:
    """A rendered video: frames ``[T, H, W, 3]`` uint8 RGB, labels ``[T, H, W]`` int64 in the
    71-label space, waveform ``[T * 16000]`` float32, and the categories that sound."""

    frames: np.ndarray
    labels: np.ndarray
    waveform: np.ndarray
    sounding: list[str]


def _shape_mask(shape: str, dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    ay, ax = np.abs(dy), np.abs(dx)
    distance = np.hypot(dy, dx)
    if shape == "disc":
        return distance <= radius
    if shape == "square":
        return np.maximum(ay, ax) <= radius * 0.85
    if shape == "triangle":
        return (dy <= radius * 0.7) & (dy >= -radius) & (ax <= (dy + radius) * 0.6)
    if shape == "diamond":
        return ay + ax <= radius
    if shape == "ring":
        return (distance <= radius) & (distance >= radius * 0.55)
    if shape == "cross":
        return (np.minimum(ay, ax) <= radius * 0.3) & (np.maximum(ay, ax) <= radius)
    if shape == "hbar":
        return (ay <= radius * 0.45) & (ax <= radius)
    if shape == "vbar":
        return (ax <= radius * 0.45) & (ay <= radius)
    if shape == "ellipse":
        return (dy / (radius * 0.6)) ** 2 + (dx / radius) ** 2 <= 1.0
    raise ValueError(f"Unknown synthetic shape '{shape}'")


def _texture_factor(texture: str, ys: np.ndarray, xs: np.ndarray, period: int) -> np.ndarray:
    """Brightness factor ``[H, W]`` of a texture: 1 on the pattern, 0.45 off it."""
    if texture == "solid":
        on = np.ones(np.broadcast(ys, xs).shape, dtype=bool)
    elif texture == "hstripes":
        on = np.broadcast_to((ys // period) % 2 == 0, np.broadcast(ys, xs).shape)
    elif texture == "vstripes":
        on = np.broadcast_to((xs // period) % 2 == 0, np.broadcast(ys, xs).shape)
    elif texture == "checker":
        on = ((ys // period) + (xs // period)) % 2 == 0
    elif texture == "dots":
        on = ((ys % period) - period / 2) ** 2 + ((xs % period) - period / 2) ** 2 > (period / 3) ** 2
    else:
        raise ValueError(f"Unknown synthetic texture '{texture}'")
    return np.where(on, 1.0, 0.45)


def _sound(style: CategoryStyle, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    time = np.arange(num_samples) / SAMPLE_RATE
    if style.sound == "tone":
        return np.sin(2 * np.pi * style.frequency_hz * time)
    # A noise band of +-10 % around the centre frequency, made by masking white noise's spectrum.
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    frequencies = np.fft.rfftfreq(num_samples, 1.0 / SAMPLE_RATE)
    spectrum[np.abs(frequencies - style.frequency_hz) > 0.1 * style.frequency_hz] = 0
    band = np.fft.irfft(spectrum, n=num_samples)
    return band / (np.abs(band).max() + 1e-12)


def _step_bouncing(instance, height: int, width: int) -> None:
    """Move ``instance`` (``center``, ``velocity``, ``radius``) one frame, bouncing off the
    frame's edges."""
    instance.center = instance.center + instance.velocity
    for axis, limit in enumerate((height, width)):
        if not instance.radius <= instance.center[axis] <= limit - instance.radius:
            instance.velocity[axis] *= -1
            instance.center[axis] = np.clip(instance.center[axis], instance.radius, limit - instance.radius)


def render_video(
    rng: np.random.Generator,
    styles: Sequence[CategoryStyle],
    num_frames: int,
    size: tuple[int, int],
    single_source: bool,
    duplicate_probability: float = 0.3,
) -> SyntheticVideo:
    """Render one video showing ``styles`` (one instance each, sometimes two of one category).

    ``single_source``: one category sounds throughout and the others stay silent (v1s, S4);
    otherwise each category sounds in each second with probability 0.5, and at least one
    category is silent in some second whenever the video shows two or more.
    """
    height, width = size
    instances = []
    for style in styles:
        copies = 2 if rng.random() < duplicate_probability else 1
        for _ in range(copies):
            radius = float(rng.uniform(0.12, 0.2) * min(height, width))
            center = np.array([rng.uniform(radius, height - radius), rng.uniform(radius, width - radius)])
            speed = rng.uniform(0.02, 0.06) * min(height, width)
            angle = rng.uniform(0, 2 * np.pi)
            instances.append(_Instance(style, center, speed * np.array([np.sin(angle), np.cos(angle)]), radius))
    order = rng.permutation(len(instances))  # drawing order: later instances occlude earlier ones
    instances = [instances[i] for i in order]

    names = [s.name for s in styles]
    if single_source:
        sounding = np.zeros((num_frames, len(names)), dtype=bool)
        sounding[:, 0] = True
    else:
        sounding = rng.random((num_frames, len(names))) < 0.5
        if len(names) > 1 and sounding.all():
            sounding[rng.integers(num_frames), rng.integers(len(names))] = False

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    base_color = rng.uniform(40, 110, size=3)
    gradient = (ys / height)[..., None] * rng.uniform(-30, 30, size=3) + (xs / width)[..., None] * rng.uniform(-30, 30, size=3)
    background_noise = rng.normal(0, 6, size=(num_frames, height, width, 3))
    period = max(3, min(height, width) // 24)

    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    labels = np.zeros((num_frames, height, width), dtype=np.int64)
    for t in range(num_frames):
        image = base_color + gradient + background_noise[t]
        label = np.zeros((height, width), dtype=np.int64)
        for instance in instances:
            dy, dx = ys - instance.center[0], xs - instance.center[1]
            inside = _shape_mask(instance.style.shape, dy, dx, instance.radius)
            # The texture moves with the object: its pattern is laid out in object coordinates.
            texture = _texture_factor(
                instance.style.texture, np.floor(dy).astype(np.int64), np.floor(dx).astype(np.int64), period
            )
            image[inside] = (np.asarray(instance.style.color, dtype=np.float64) * texture[..., None])[inside]
            category_slot = names.index(instance.style.name)
            label[inside] = CATEGORY_TO_INDEX[instance.style.name] if sounding[t, category_slot] else 0
            _step_bouncing(instance, height, width)
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)
        labels[t] = label

    samples_per_second = SAMPLE_RATE
    waveform = rng.normal(0, 0.003, size=num_frames * samples_per_second)
    fade = int(_FADE_SECONDS * SAMPLE_RATE)
    envelope = np.ones(samples_per_second)
    envelope[:fade] = np.linspace(0, 1, fade)
    envelope[-fade:] = np.linspace(1, 0, fade)
    for slot, style in enumerate(styles):
        if not sounding[:, slot].any():
            continue
        sound = _sound(style, num_frames * samples_per_second, rng).reshape(num_frames, samples_per_second)
        gate = sounding[:, slot, None] * envelope[None, :]
        waveform += 0.25 * (sound * gate).reshape(-1)
    waveform = np.clip(waveform, -1.0, 1.0).astype(np.float32)
    sounding_names = [name for slot, name in enumerate(names) if sounding[:, slot].any()]
    return SyntheticVideo(frames=frames, labels=labels, waveform=waveform, sounding=sounding_names)


def wav_bytes(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A mono 16-bit PCM wav file's bytes for ``waveform`` ``[N]`` in [-1, 1]."""
    pcm = np.round(np.clip(waveform, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _write_bytes(path: str, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def _encode(extension: str, image: np.ndarray, params: Sequence[int] = ()) -> bytes:
    ok, encoded = cv2.imencode(extension, image, list(params))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {extension} image of shape {image.shape}")
    return encoded.tobytes()


def _rgb_jpg(frame: np.ndarray) -> bytes:
    return _encode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), (cv2.IMWRITE_JPEG_QUALITY, 95))


def _rgb_png(image: np.ndarray) -> bytes:
    return _encode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def _video_categories(rng: np.random.Generator, pool: Sequence[str], novel: Sequence[str]) -> list[str]:
    count = int(rng.integers(1, min(3, len(pool)) + 1))
    chosen = list(rng.choice(len(pool), size=count, replace=False))
    names = [pool[i] for i in chosen]
    # Test videos: make sure novel categories are shown often enough to be scored.
    if novel and not set(names) & set(novel) and rng.random() < 0.5:
        names[int(rng.integers(count))] = novel[int(rng.integers(len(novel)))]
        names = list(dict.fromkeys(names))
    return names


def _check_categories(categories: Sequence[str]) -> tuple[list[str], list[str]]:
    unknown = [c for c in categories if c not in CATEGORY_TO_INDEX]
    if unknown:
        raise ValueError(f"Unknown categories {unknown}; choose from the 70 AVSBench names")
    if len(set(categories)) != len(categories):
        raise ValueError(f"Categories must be distinct, got {list(categories)}")
    base = [c for c in categories if c in BASE_CATEGORIES]
    novel = [c for c in categories if c in NOVEL_CATEGORIES]
    if not base:
        raise ValueError(f"At least one base category is needed for training, got {list(categories)}")
    return base, novel


def make_synthetic_avsbench(
    out_dir: str,
    seed: int = 0,
    num_train_videos: int = 80,
    num_val_videos: int = 8,
    num_test_videos: int = 24,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> str:
    """Write ``<out_dir>/AVSBench-semantic/`` in the real layout and return that folder.

    Training videos show base categories only; val and test videos mix base and novel ones.
    """
    base, novel = _check_categories(categories)
    if min(size) < 32:
        raise ValueError(f"Frame size must be at least 32x32, got {tuple(size)}")
    rng = np.random.default_rng(seed)
    styles = category_styles(list(categories))
    root = os.path.join(out_dir, SEMANTIC_DIR)
    label_to_index = {BACKGROUND: 0, **{name: CATEGORY_TO_INDEX[name] for name in CATEGORIES}}
    _write_bytes(os.path.join(root, LABEL_FILE), json.dumps(label_to_index, indent=1).encode("utf-8"))

    rows = []
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))
    for split, num_videos in (("train", num_train_videos), ("val", num_val_videos), ("test", num_test_videos)):
        pool = base if split == "train" else base + novel
        for _ in range(num_videos):
            subset = str(rng.choice(_SUBSETS, p=_SUBSET_PROBABILITIES))
            num_frames = _SUBSET_FRAMES[subset]
            names = _video_categories(rng, pool, novel if split != "train" else ())
            video = render_video(rng, [styles[n] for n in names], num_frames, size, single_source=subset == "v1s")
            vid = "".join(rng.choice(alphabet, size=11))
            start_second = int(rng.integers(0, 10))
            uid = f"{vid}_{start_second}"
            video_dir = os.path.join(root, subset, uid)
            annotated = 1 if (subset == "v1s" and split == "train") else num_frames
            for t in range(num_frames):
                _write_bytes(os.path.join(video_dir, "frames", f"{t}.jpg"), _rgb_jpg(video.frames[t]))
                if t < annotated:
                    _write_bytes(os.path.join(video_dir, "labels_rgb", f"{t}.png"), _rgb_png(colorize(video.labels[t])))
            _write_bytes(os.path.join(video_dir, "audio.wav"), wav_bytes(video.waveform))
            a_obj = "_".join(video.sounding)
            rows.append([vid, uid, 0, start_second, a_obj, split, subset])

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"])
    writer.writerows(rows)
    _write_bytes(os.path.join(root, METADATA_FILE), buffer.getvalue().encode("utf-8"))
    return root


def make_synthetic_avsbench_object(
    out_dir: str,
    seed: int = 0,
    videos_per_split: int = 4,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> str:
    """Write ``<out_dir>/AVSBench-object/`` (S4 and MS3, the public release's layout) and return it.

    Masks are 0/255 grayscale PNGs of the sounding objects; S4 training videos have the first
    frame's mask only; frames are PNGs as in the release.
    """
    _check_categories(categories)
    rng = np.random.default_rng(seed)
    styles = category_styles(list(categories))
    root = os.path.join(out_dir, OBJECT_DIR)
    num_frames = 5
    s4_rows, ms3_rows = [], []
    for split in ("train", "val", "test"):
        for index in range(videos_per_split):
            for subset in ("s4", "ms3"):
                names = _video_categories(rng, list(categories), ())
                video = render_video(rng, [styles[n] for n in names], num_frames, size, single_source=subset == "s4")
                name = f"{subset}{split}{index:03d}" + "".join(rng.choice(list("abcdefghij"), size=4))
                binary = np.where(video.labels > 0, 255, 0).astype(np.uint8)
                if subset == "s4":
                    category = names[0]
                    base = os.path.join(root, "Single-source", "s4_data")
                    frames_dir = os.path.join(base, "visual_frames", split, category, name)
                    masks_dir = os.path.join(base, "gt_masks", split, category, name)
                    audio_path = os.path.join(base, "audio_wav", split, category, f"{name}.wav")
                    frame_names = [f"{name}_{k}.png" for k in range(1, num_frames + 1)]
                    annotated = 1 if split == "train" else num_frames
                    s4_rows.append([name, 0, category, split])
                else:
                    base = os.path.join(root, "Multi-sources", "ms3_data")
                    frames_dir = os.path.join(base, "visual_frames", name)
                    masks_dir = os.path.join(base, "gt_masks", split, name)
                    audio_path = os.path.join(base, "audio_wav", split, f"{name}.wav")
                    frame_names = [f"{name}.mp4_{k}.png" for k in range(1, num_frames + 1)]
                    annotated = num_frames
                    ms3_rows.append([name, split])
                for t in range(num_frames):
                    _write_bytes(os.path.join(frames_dir, frame_names[t]), _rgb_png(video.frames[t]))
                    if t < annotated:
                        _write_bytes(os.path.join(masks_dir, f"{name}_{t + 1}.png"), _encode(".png", binary[t]))
                _write_bytes(audio_path, wav_bytes(video.waveform))
    for path, header, rows in (
        (os.path.join(root, "Single-source", "s4_meta_data.csv"), ["name", "start", "category", "split"], s4_rows),
        (os.path.join(root, "Multi-sources", "ms3_meta_data.csv"), ["video_id", "split"], ms3_rows),
    ):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        _write_bytes(path, buffer.getvalue().encode("utf-8"))
    return root
