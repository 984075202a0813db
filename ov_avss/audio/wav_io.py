"""RIFF/WAVE reading without a video demuxer.

AVSBench and AVISeg ship their audio as ``.wav`` files. Decoding those through FFmpeg (PyAV)
costs more than the whole VGGish front end, so PCM and IEEE-float wavs are read here directly:
the header is parsed chunk by chunk and the samples come from one ``numpy.frombuffer``.

``read_wav_info`` reads only the header (a few hundred bytes), which is what the dataset check
needs; ``read_wav`` decodes the samples; ``read_wav_frames`` decodes a range of them, reading
only those bytes (the demo's audio of one window of frames).
"""
from __future__ import annotations

import dataclasses
import io
import os
import struct

import numpy as np

__all__ = ["WavInfo", "WavFormatError", "read_wav_info", "read_wav", "read_wav_frames", "is_wav_path"]

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_IEEE_FLOAT = 0x0003
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


class WavFormatError(ValueError):
    """The file is not a RIFF/WAVE file this reader can decode; the message names the file."""


@dataclasses.dataclass(frozen=True)
class WavInfo:
    """What a wav header says.

    Attributes:
        sample_rate: samples per second per channel.
        num_channels: interleaved channels.
        num_frames: samples per channel in the data chunk.
        sample_format: ``"int"`` (PCM) or ``"float"`` (IEEE float).
        bits_per_sample: 8, 16, 24 or 32 for PCM; 32 or 64 for float.
        data_offset: byte offset of the first sample.
    """

    sample_rate: int
    num_channels: int
    num_frames: int
    sample_format: str
    bits_per_sample: int
    data_offset: int

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.sample_rate


def is_wav_path(path: str) -> bool:
    return str(path).lower().endswith(".wav")


def _parse_header(path: str, handle, file_size: int) -> WavInfo:
    """Walk the chunks of ``handle`` (a file or an in-memory copy of one, ``file_size`` bytes)
    up to the start of the samples."""
    riff = handle.read(12)
    if len(riff) < 12 or riff[:4] not in (b"RIFF", b"RF64") or riff[8:12] != b"WAVE":
        raise WavFormatError(f"{path}: not a RIFF/WAVE file (starts with {riff[:12]!r})")
    fmt = None
    while True:
        chunk = handle.read(8)
        if len(chunk) < 8:
            raise WavFormatError(f"{path}: no 'data' chunk found (file ends at {handle.tell()} bytes)")
        chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if chunk_id == b"fmt ":
            body = handle.read(chunk_size)
            if len(body) < 16:
                raise WavFormatError(f"{path}: 'fmt ' chunk of {len(body)} bytes, expected >= 16")
            format_tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
            if format_tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                # The sub-format GUID starts with the real format tag.
                format_tag = struct.unpack("<H", body[24:26])[0]
            fmt = (format_tag, channels, rate, block_align, bits)
            if chunk_size % 2:
                handle.read(1)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavFormatError(f"{path}: 'data' chunk before the 'fmt ' chunk")
            format_tag, channels, rate, block_align, bits = fmt
            if format_tag == _WAVE_FORMAT_PCM and bits in (8, 16, 24, 32):
                sample_format = "int"
            elif format_tag == _WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64):
                sample_format = "float"
            else:
                raise WavFormatError(
                    f"{path}: unsupported wav encoding (format tag 0x{format_tag:04x}, {bits} bits); "
                    f"expected PCM 8/16/24/32-bit or IEEE float 32/64-bit"
                )
            if channels <= 0 or rate <= 0:
                raise WavFormatError(f"{path}: invalid header ({channels} channels, {rate} Hz)")
            frame_bytes = channels * bits // 8
            data_offset = handle.tell()
            available = max(0, file_size - data_offset)
            # Streamed writers leave 0 or 0xFFFFFFFF as the size; a truncated file holds less.
            size = chunk_size if 0 < chunk_size < 0xFFFFFFFF else available
            if size > available:
                raise WavFormatError(
                    f"{path}: truncated: the data chunk declares {size} bytes, the file holds {available}"
                )
            return WavInfo(rate, channels, size // frame_bytes, sample_format, bits, data_offset)
        else:
            handle.seek(chunk_size + (chunk_size % 2), os.SEEK_CUR)


def read_wav_info(path: str) -> WavInfo:
    """Parse the header of ``path``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        WavFormatError: not a wav this reader decodes, or truncated.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Audio file not found: {path}")
    with open(path, "rb") as handle:
        return _parse_header(path, handle, os.fstat(handle.fileno()).st_size)


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """Decode ``path``.

    Returns:
        ``(samples, sample_rate)``: float32 ``[C, N]``; PCM scaled to [-1, 1) by its full scale
        (int16 / 32768, as the published front ends do), float stored values as they are.
    """
    # One read of the whole file and the header parsed from memory: on small wavs the system
    # calls of a chunk-by-chunk read cost as much as the decoding.
    try:
        with open(path, "rb", buffering=0) as handle:
            content = handle.readall()
    except FileNotFoundError:
        raise FileNotFoundError(f"Audio file not found: {path}") from None
    info = _parse_header(path, io.BytesIO(content), len(content))
    frame_bytes = info.num_channels * info.bits_per_sample // 8
    raw = memoryview(content)[info.data_offset : info.data_offset + info.num_frames * frame_bytes]
    return _decode_samples(raw, info), info.sample_rate


def read_wav_frames(path: str, info: WavInfo, start: int, stop: int) -> np.ndarray:
    """Samples ``start`` to ``stop`` (per channel, clipped to the file's) of ``path``, whose
    header is ``info`` (``read_wav_info``), reading only their bytes.

    Returns:
        float32 ``[C, n]``, scaled as ``read_wav`` scales them (the same values as its columns
        ``start:stop``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        WavFormatError: the file holds fewer bytes than ``info`` says (it changed).
    """
    start, stop = max(0, start), min(stop, info.num_frames)
    if stop <= start:
        return np.zeros((info.num_channels, 0), dtype=np.float32)
    frame_bytes = info.num_channels * info.bits_per_sample // 8
    try:
        with open(path, "rb", buffering=0) as handle:
            handle.seek(info.data_offset + start * frame_bytes)
            raw = handle.read((stop - start) * frame_bytes)
    except FileNotFoundError:
        raise FileNotFoundError(f"Audio file not found: {path}") from None
    if len(raw) != (stop - start) * frame_bytes:
        raise WavFormatError(f"{path}: samples {start}..{stop} are past the end of the file (did it change?)")
    return _decode_samples(memoryview(raw), info)


def _decode_samples(raw: memoryview, info: WavInfo) -> np.ndarray:
    """Whole frames of ``info``'s encoding -> float32 ``[C, n]``; elementwise, so a range of a
    file decodes to the same values as the whole file's columns."""
    bits, channels = info.bits_per_sample, info.num_channels
    if info.sample_format == "float":
        # A copy even for float32: the bytes are read-only, the returned samples are not.
        data = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
    elif bits == 8:  # 8-bit PCM is unsigned
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        data = ints.astype(np.float32) / float(1 << 23)
    else:
        ints = np.frombuffer(raw, dtype="<i2" if bits == 16 else "<i4")
        data = np.multiply(ints, np.float32(1.0 / (1 << (bits - 1))), dtype=np.float32)
    return np.ascontiguousarray(data.reshape(-1, channels).T)
