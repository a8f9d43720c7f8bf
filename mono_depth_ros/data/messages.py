# Copyright 2026 mono_depth_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.


"""Message-shaped data <-> numpy arrays: images, compressed images, depth, stamps.

The functions read and fill messages by attribute (duck typing), so they work on rclpy
messages and on the ``rosbags`` library's decoded messages alike, and need no ROS install:
the bag loaders use them without ROS, the node with it. They stand in for cv_bridge, which
has no PyPI release. Supported colour encodings: rgb8, bgr8,
rgba8, bgra8, mono8 (and mono16 for display); depth encodings: 32FC1 (metres) and 16UC1
(millimetres, 0 = invalid), as REP 118 describes.

May import: numpy, Pillow, :mod:`mono_depth_ros.data.errors`.
"""

from __future__ import annotations

import io
import struct
from typing import Any, Dict, Optional
import warnings

from mono_depth_ros.data.errors import DataError
import numpy as np

__all__ = ['COLOUR_ENCODINGS', 'compressed_to_rgb', 'depth_from_message', 'fill_depth_message',
           'fill_rgb_message', 'ns_to_stamp', 'rgb_from_message', 'stamp_to_ns']

#: encoding -> (channels, dtype, channel order to RGB(A) or None for grey)
COLOUR_ENCODINGS = {
    'rgb8': (3, np.uint8, (0, 1, 2)),
    'bgr8': (3, np.uint8, (2, 1, 0)),
    'rgba8': (4, np.uint8, (0, 1, 2)),
    'bgra8': (4, np.uint8, (2, 1, 0)),
    'mono8': (1, np.uint8, None),
    'mono16': (1, np.uint16, None),
}
_DEPTH_ENCODINGS = {'32FC1': np.float32, '16UC1': np.uint16}


def _as_bytes(data: Any) -> memoryview:
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data).view(np.uint8).reshape(-1))
    return memoryview(bytes(data) if isinstance(data, (list, tuple)) else data).cast('B')


def check_size(width: int, height: int, max_pixels: Optional[int], what: str) -> None:
    """Raise :class:`DataError` (kind ``'too_large'``) above ``max_pixels`` (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise DataError(f'{what}: {width}x{height} is {width * height} pixels, more than '
                        f'max_input_pixels = {max_pixels}', 'too_large')


def _pixel_rows(msg: Any, channels: int, dtype, what: str,
                max_pixels: Optional[int] = None) -> np.ndarray:
    """Return ``(H, W, C)`` pixels of ``msg``, honouring ``step`` and endianness."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise DataError(f'{what}: empty image ({w}x{h})', 'layout')
    check_size(w, h, max_pixels, what)
    itemsize = np.dtype(dtype).itemsize
    row_bytes = w * channels * itemsize
    if step < row_bytes:
        raise DataError(f'{what}: step {step} is smaller than width*channels*bytes '
                        f'= {row_bytes} for encoding {msg.encoding!r}', 'layout')
    buf = _as_bytes(msg.data)
    if len(buf) < step * (h - 1) + row_bytes:
        raise DataError(f'{what}: data has {len(buf)} bytes, a {w}x{h} {msg.encoding!r} '
                        f'image with step {step} needs {step * h}', 'layout')
    raw = np.frombuffer(buf, dtype=np.uint8, count=step * (h - 1) + row_bytes)
    rows = np.lib.stride_tricks.as_strided(raw, shape=(h, row_bytes), strides=(step, 1))
    order = '>' if getattr(msg, 'is_bigendian', 0) else '<'
    pixels = rows.copy().view(np.dtype(dtype).newbyteorder(order) if itemsize > 1 else dtype)
    return pixels.reshape(h, w, channels).astype(dtype, copy=False)


def rgb_from_message(msg: Any, what: str = 'image',
                     max_pixels: Optional[int] = None) -> np.ndarray:
    """Convert a sensor_msgs/Image to an RGB ``uint8`` array ``(H, W, 3)``.

    Raises:
        DataError: unsupported encoding, empty image, more than ``max_pixels`` pixels,
            step smaller than a row, data shorter than ``step * height``.

    """
    encoding = str(msg.encoding)
    if encoding not in COLOUR_ENCODINGS:
        raise DataError(f'{what}: unsupported encoding {encoding!r}; supported: '
                        f'{sorted(COLOUR_ENCODINGS)}', 'encoding')
    channels, dtype, order = COLOUR_ENCODINGS[encoding]
    pixels = _pixel_rows(msg, channels, dtype, what, max_pixels)
    if dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if order is None:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[..., list(order)])


def compressed_to_rgb(msg: Any, what: str = 'compressed image',
                      max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg, png, any format Pillow reads) to RGB.

    The header's size is checked against ``max_pixels`` before any pixel is decoded, so a
    small file that claims a huge image costs nothing.

    Raises:
        DataError: no data (kind ``'decode'``), an image larger than ``max_pixels``
            (``'too_large'``), or bytes the decoder rejects, whatever its exception
            (``'decode'``).

    """
    from PIL import Image

    data = bytes(_as_bytes(msg.data))
    if not data:
        raise DataError(f'{what}: no data (format {msg.format!r})', 'decode')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # corrupt-tag chatter: what fails raises
            with Image.open(io.BytesIO(data)) as img:
                check_size(*img.size, max_pixels, what)
                rgb = np.asarray(img.convert('RGB'))
    except DataError:
        raise
    except (*_DECODER_ERRORS, Image.DecompressionBombError) as err:
        raise DataError(f'{what}: cannot decode {len(data)} bytes of format '
                        f'{msg.format!r}: {type(err).__name__}: {err}', 'decode') from err
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise DataError(f'{what}: decoded to an unusable array {rgb.shape}', 'decode')
    return rgb


#: What Pillow's decoders raise on corrupt, truncated or hostile input (its plugins are
#: not consistent: broken PNG chunks raise SyntaxError, bad PPM headers ValueError, bad
#: TIFF tags KeyError or struct.error; headers beyond Pillow's own limit raise its
#: DecompressionBombError, a plain Exception, added where it is caught).
_DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, KeyError, IndexError,
                   TypeError, ZeroDivisionError, MemoryError, OverflowError, RuntimeError,
                   struct.error)


def depth_from_message(msg: Any, what: str = 'depth image') -> np.ndarray:
    """Depth in metres ``(H, W)`` float32 from a 32FC1 or 16UC1 image; NaN where invalid."""
    encoding = str(msg.encoding)
    if encoding not in _DEPTH_ENCODINGS:
        raise DataError(f'{what}: unsupported depth encoding {encoding!r}; supported: '
                        f'{sorted(_DEPTH_ENCODINGS)}', 'encoding')
    depth = _pixel_rows(msg, 1, _DEPTH_ENCODINGS[encoding], what)[..., 0]
    if encoding == '16UC1':
        out = depth.astype(np.float32) / 1000.0
        out[depth == 0] = np.nan
        return out
    out = depth.astype(np.float32)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def fill_rgb_message(msg: Any, rgb: np.ndarray, encoding: str = 'rgb8') -> Any:
    """Fill ``msg`` (a sensor_msgs/Image) from an RGB ``uint8`` array ``(H, W, 3)``."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise DataError(f'expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}')
    if encoding == 'bgr8':
        rgb = rgb[..., ::-1]
    elif encoding != 'rgb8':
        raise DataError(f'fill_rgb_message writes rgb8 or bgr8, not {encoding!r}')
    return _fill(msg, np.ascontiguousarray(rgb), encoding)


def fill_depth_message(msg: Any, depth: np.ndarray) -> Any:
    """Fill ``msg`` as a 32FC1 depth image (metres, NaN = no estimate) from ``(H, W)``."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise DataError(f'expected an (H, W) depth array, got shape {depth.shape}')
    return _fill(msg, np.ascontiguousarray(depth), '32FC1')


def _fill(msg: Any, array: np.ndarray, encoding: str) -> Any:
    h, w = array.shape[:2]
    msg.height, msg.width, msg.encoding = h, w, encoding
    msg.is_bigendian = 0
    # A row's byte count from the shape: numpy keeps arbitrary strides on length-1 axes.
    msg.step = w * (array.shape[2] if array.ndim == 3 else 1) * array.itemsize
    raw = array.tobytes()
    try:
        msg.data = raw
    except (TypeError, AssertionError, ValueError):
        msg.data = np.frombuffer(raw, dtype=np.uint8)
    return msg


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (anything with ``sec`` and ``nanosec``)."""
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Dict[str, int]:
    """``{'sec': ..., 'nanosec': ...}`` of a time in nanoseconds (for message constructors)."""
    return {'sec': int(ns) // 10**9, 'nanosec': int(ns) % 10**9}
