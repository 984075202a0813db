"""Writing wav files byte by byte for the audio tests (independent of ``ov_avss.audio.wav_io``)."""
from __future__ import annotations

import struct

import numpy as np

# encoding -> (format tag, bits per sample)
ENCODINGS = {"pcm8": (1, 8), "pcm16": (1, 16), "pcm24": (1, 24), "pcm32": (1, 32), "float32": (3, 32), "float64": (3, 64)}


def encode_samples(samples: np.ndarray, encoding: str) -> tuple[bytes, np.ndarray]:
    """``samples`` ``[N, C]`` in [-1, 1] -> (interleaved little-endian bytes, the values a
    decoder must return: the stored integers over full scale, or the stored floats)."""
    tag, bits = ENCODINGS[encoding]
    if tag == 3:
        stored = samples.astype("<f4" if bits == 32 else "<f8")
        return stored.tobytes(), stored.astype(np.float64)
    full_scale = 2 ** (bits - 1)
    ints = np.clip(np.round(samples * full_scale), -full_scale, full_scale - 1).astype(np.int64)
    if bits == 8:
        return (ints + 128).astype(np.uint8).tobytes(), ints / full_scale
    if bits == 24:
        raw = (ints.reshape(-1) & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
        return raw.tobytes(), ints / full_scale
    return ints.astype("<i2" if bits == 16 else "<i4").tobytes(), ints / full_scale


def write_wav(
    path,
    samples: np.ndarray,
    rate: int,
    encoding: str = "pcm16",
    extra_chunks: tuple[tuple[bytes, bytes], ...] = (),
    extensible: bool = False,
    data_size: int | None = None,
) -> np.ndarray:
    """Write ``samples`` (``[N]`` or ``[N, C]``) as a RIFF/WAVE file; return the decoded values
    ``[C, N]`` a reader must give. ``extra_chunks`` (id, body) go between ``fmt `` and ``data``;
    ``data_size`` overrides the size the data chunk declares."""
    samples = samples if samples.ndim == 2 else samples[:, None]
    channels = samples.shape[1]
    tag, bits = ENCODINGS[encoding]
    data, decoded = encode_samples(samples, encoding)
    block_align = channels * bits // 8
    if extensible:
        # cbSize 22, valid bits, channel mask, then the sub-format GUID whose first 2 bytes are the tag.
        guid = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block_align, block_align, bits)
        fmt += struct.pack("<HHI", 22, bits, 0) + guid
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    for chunk_id, chunk in extra_chunks:
        body += chunk_id + struct.pack("<I", len(chunk)) + chunk + (b"\x00" if len(chunk) % 2 else b"")
    body += b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)
    return decoded.T
