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

"""The matrix form of the box resize against Pillow itself, bit for bit."""

from mono_depth_ros.core.inference import frame_to_input, frames_to_tensor
from mono_depth_ros.core.resize import box_resize, box_weights, BoxResize
import numpy as np
from PIL import Image
import pytest


def _pillow(rgb, size):
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BOX))


@pytest.mark.parametrize('in_size,size,matrices', [
    ((128, 416), (48, 160), True),    # the node's camera to the shipped networks
    ((480, 640), (128, 416), True),   # factor 3.75 rows: taps on both ends of a tie
    ((720, 1280), (48, 160), True),
    ((96, 320), (48, 160), True),
    ((128, 416), (128, 160), True),   # one axis only
    ((24, 80), (48, 160), True),      # upscaling
    ((48, 160), (48, 160), True),     # the networks' own size: identity periods
    ((128, 416), (96, 320), False),   # a tie rounded differently per block: Pillow runs
    ((376, 1241), (48, 160), False),  # no short period (KITTI)
])
def test_equals_pillow(in_size, size, matrices):
    rng = np.random.default_rng(sum(in_size) + sum(size))
    rgb = rng.integers(0, 256, (*in_size, 3), dtype=np.uint8)
    rgb[:4] = 255  # saturated rows: the rounding must not overflow
    plan = BoxResize(in_size, size)
    assert plan.exact_matrices is matrices
    out = plan(rgb)
    assert out.dtype == np.uint8 and out.shape == (*size, 3)
    np.testing.assert_array_equal(out, _pillow(rgb, size))
    np.testing.assert_array_equal(box_resize(rgb, size), out)
    if matrices:  # the two passes as documented for graphs that take them as inputs
        columns, column_offset, rows, row_offset = plan.matrices()
        a = np.floor(rgb.astype(np.float32).reshape(-1, columns.shape[0]) @ columns
                     + column_offset)
        b = np.floor(rows @ a.reshape(-1, rows.shape[1], size[1] * 3) + row_offset)
        np.testing.assert_array_equal(b.reshape(*size, 3), out)
    else:
        assert plan.matrices() is None


@pytest.mark.parametrize('out', [160, 7])
def test_every_input_width(out):
    # Every width to 160 columns (2-7 pixels per output) and to 7 (up to 64: the widest
    # period), with values that make many even-count sums ties.
    rng = np.random.default_rng(out)
    matrices = 0
    for width in range(out, 64 * out + 1, 1 if out == 7 else 3):
        rgb = rng.integers(0, 2, (2, width, 3), dtype=np.uint8) * 255
        rgb[1] = rng.integers(0, 256, (width, 3))
        plan = BoxResize((2, width), (2, out))
        matrices += plan.exact_matrices
        np.testing.assert_array_equal(plan(rgb), _pillow(rgb, (2, out)), err_msg=str(width))
    assert matrices > 40  # the matrix path, not only Pillow's fallback, was compared


def test_weights_equal_pillows_float_resize():
    # Pillow's float ("F") resize of unit impulses gives its weights without rounding.
    n_in, n_out = 480, 128
    eye = np.eye(n_in, dtype=np.float32)
    pillow = np.stack([np.asarray(Image.fromarray(eye[:, i:i + 1]).resize(
        (1, n_out), Image.BOX))[:, 0] for i in range(n_in)], 1)
    np.testing.assert_allclose(box_weights(n_in, n_out), pillow, atol=1e-6)


def test_network_input_paths_agree():
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (128, 416, 3), dtype=np.uint8) for _ in range(2)]
    batch = frames_to_tensor(frames, (48, 160)).numpy()
    for frame, row in zip(frames, batch):
        np.testing.assert_array_equal(frame_to_input(frame, (48, 160))[0], row)
        np.testing.assert_array_equal(row, _pillow(frame, (48, 160)).transpose(2, 0, 1)
                                      / np.float32(255.0))


def test_other_arrays_go_to_pillow():
    rng = np.random.default_rng(5)
    for image in (rng.integers(0, 256, (128, 416), dtype=np.uint8),
                  rng.integers(0, 256, (128, 416, 4), dtype=np.uint8)):
        np.testing.assert_array_equal(box_resize(image, (48, 160)), _pillow(image, (48, 160)))


def test_bad_frames_are_refused():
    plan = BoxResize((128, 416), (48, 160))
    with pytest.raises(ValueError, match='uint8'):
        plan(np.zeros((128, 416, 3), np.float32))
    with pytest.raises(ValueError, match=r'\(128, 416, 3\)'):
        plan(np.zeros((64, 416, 3), np.uint8))
    with pytest.raises(ValueError, match='positive'):
        BoxResize((0, 416), (48, 160))
