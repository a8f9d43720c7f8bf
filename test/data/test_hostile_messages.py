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

"""Image messages built to break the decoder: each is one DataError of a named kind."""

import io
import random
import struct
from types import SimpleNamespace
import zlib

from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.messages import (compressed_to_rgb, fill_depth_message,
                                          fill_rgb_message, rgb_from_message)
import numpy as np
from PIL import Image
import pytest

FORMATS = ('PNG', 'JPEG', 'PPM', 'TIFF', 'BMP', 'GIF', 'WEBP')


def _chunk(kind, payload):
    body = kind + payload
    return struct.pack('>I', len(payload)) + body + struct.pack('>I', zlib.crc32(body))


def png_header(width, height):
    """Return a PNG claiming ``width x height`` RGB with a few bytes of pixel data."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr)
            + _chunk(b'IDAT', zlib.compress(b'\x00' * 16)) + _chunk(b'IEND', b''))


def encoded(fmt, h=24, w=40):
    """``h x w`` random RGB encoded as ``fmt`` by Pillow."""
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


def compressed(data, fmt='png'):
    """Wrap bytes as a CompressedImage-shaped message."""
    return SimpleNamespace(data=data, format=fmt)


def test_huge_header_is_refused_before_decoding():
    """Headers claiming 10000x10000 or 20000x20000 cost nothing: too_large, or decode."""
    bomb = png_header(10000, 10000)
    assert len(bomb) < 80
    with pytest.raises(DataError, match='max_input_pixels') as err:
        compressed_to_rgb(compressed(bomb), max_pixels=8_000_000)
    assert err.value.kind == 'too_large'
    with pytest.raises(DataError) as err:  # beyond Pillow's own bomb limit: caught too
        compressed_to_rgb(compressed(png_header(20000, 20000)))
    assert err.value.kind == 'decode'


def test_valid_image_over_the_limit_is_refused():
    """A well-formed image larger than the limit is skipped, smaller ones decode."""
    data = encoded('PNG', 100, 100)
    with pytest.raises(DataError, match='10000 pixels'):
        compressed_to_rgb(compressed(data), max_pixels=9999)
    assert compressed_to_rgb(compressed(data), max_pixels=10000).shape == (100, 100, 3)


@pytest.mark.parametrize('fmt', FORMATS)
def test_mutated_and_truncated_files_raise_data_errors(fmt):
    """Byte flips, truncation and overwritten runs of each format: DataError or a decode."""
    good = encoded(fmt)
    rng = random.Random(fmt)
    decoded = 0
    for i in range(120):
        data = bytearray(good)
        if i % 3 == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif i % 3 == 1:
            data = data[:rng.randrange(1, len(data))]
        else:
            k = rng.randrange(len(data))
            data[k:k + 6] = bytes(rng.randrange(256) for _ in range(6))
        try:
            rgb = compressed_to_rgb(compressed(bytes(data), fmt.lower()), max_pixels=10**6)
        except DataError as err:
            assert err.kind in ('decode', 'too_large')
            continue
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        decoded += 1
    assert decoded < 120  # the corpus does break the decoder


def test_known_crashers():
    """The corrupt PNG and the mutated PPM that used to escape as SyntaxError / ValueError."""
    png = bytearray(encoded('PNG'))
    png[40:50] = b'\xff' * 10  # inside IDAT: zlib or chunk CRC failure
    ppm = b'P6\n40 -24\n255\n' + b'\x00' * 100
    for data, fmt in ((bytes(png[:91]), 'png'), (bytes(png), 'png'), (ppm, 'ppm'),
                      (b'II*\x00' + b'\xff' * 60, 'tiff')):
        with pytest.raises(DataError) as err:
            compressed_to_rgb(compressed(data, fmt))
        assert err.value.kind == 'decode'


def test_raw_image_limit_and_kinds():
    """Raw images: too_large before touching data, encoding and layout faults by kind."""
    msg = SimpleNamespace(height=5000, width=5000, step=15000, encoding='rgb8',
                          is_bigendian=0, data=b'')
    with pytest.raises(DataError) as err:
        rgb_from_message(msg, max_pixels=1_000_000)
    assert err.value.kind == 'too_large'
    msg.height = msg.width = 2
    with pytest.raises(DataError) as err:
        rgb_from_message(msg)
    assert err.value.kind == 'layout'
    msg.encoding = 'yuv422'
    with pytest.raises(DataError) as err:
        rgb_from_message(msg)
    assert err.value.kind == 'encoding'


@pytest.mark.parametrize('shape', [(1, 7), (1, 1), (5, 1), (3, 4)])
def test_step_matches_data_for_every_shape(shape):
    """``step`` is a row's bytes even for one-row arrays with odd strides (REP 118 depth)."""
    depth = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    odd = np.lib.stride_tricks.as_strided(depth, shape=shape, strides=(999, 4)) \
        if shape[0] == 1 else depth
    msg = fill_depth_message(SimpleNamespace(), odd)
    assert msg.step == shape[1] * 4 and len(msg.data) == msg.step * msg.height
    rgb = np.zeros(shape + (3,), np.uint8)
    img = fill_rgb_message(SimpleNamespace(), rgb)
    assert img.step == shape[1] * 3 and len(img.data) == img.step * img.height
