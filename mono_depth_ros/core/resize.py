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

"""Pillow's box-filter resize of ``uint8`` RGB frames, bit for bit, as two matrix products.

Every frame the networks see is resized with Pillow's ``Image.BOX`` filter (training
snippets, evaluation, the node). Per frame in the node, Pillow's call and the conversions
around it cost about a tenth of the networks' time. Where the size ratio repeats over a
short period (416x128 to 160x48: 13 input columns give 5 output columns, 8 rows give 3),
the resize is a block-diagonal linear map, and :class:`BoxResize` applies it as one small
matrix product per axis, with Pillow's own fixed-point weights and rounding, so the result
equals Pillow's exactly (``test/core/test_resize.py`` checks it against Pillow). Ratios
without a short period (a 1241-pixel KITTI row) fall back to Pillow itself.

Pillow's algorithm (``libImaging/Resample.c``) as reproduced here: a horizontal pass, then
a vertical pass, each rounding to ``uint8``. The output pixel ``j`` averages the input
pixels whose offset ``(x + 0.5 - (j + 0.5) * scale) / scale`` lies in ``(-0.5, 0.5]``, with
weights ``round(2**22 / n)`` for its ``n`` pixels, a rounding offset of ``2**21`` and a
shift by 22 bits. Here the means are float32 matrix products and the fixed-point rounding
is a float32 floor with an offset, which changes no value (``_axis`` says why).

May import: numpy, Pillow.
"""

from __future__ import annotations

import functools
import math
from typing import Optional, Tuple

import numpy as np
from PIL import Image

__all__ = ['BoxResize', 'box_resize', 'box_weights', 'resize_plan']

_BITS = 22  # Pillow's PRECISION_BITS for 8-bit images (32 - 8 - 2)
#: the longest input period an axis may have for the matrix path (else Pillow runs)
MAX_PERIOD = 64
_MARGIN = 4e-3  # see _axis


def box_weights(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's box-filter weights ``(n_out, n_in)`` (float64, rows sum to 1)."""
    scale = n_in / n_out
    support = 0.5 * max(scale, 1.0)
    inv = 1.0 / max(scale, 1.0)
    weights = np.zeros((n_out, n_in))
    for j in range(n_out):
        centre = (j + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n_in)
        offset = (np.arange(lo, hi) - centre + 0.5) * inv
        taps = ((offset > -0.5) & (offset <= 0.5)).astype(np.float64)
        weights[j, lo:hi] = taps / taps.sum()
    return weights


def _axis(n_in: int, n_out: int) -> Optional[Tuple[int, np.ndarray, float]]:
    """Return one period's ``(blocks, weights (out, in), rounding offset)``.

    None when the weights do not repeat over a period of at most :data:`MAX_PERIOD`.
    """
    blocks = math.gcd(n_in, n_out)
    p_in, p_out = n_in // blocks, n_out // blocks
    if p_in > MAX_PERIOD:
        return None
    weights = box_weights(n_in, n_out)
    block = weights[:p_out, :p_in]
    if not np.array_equal(np.kron(np.eye(blocks), block), weights):
        return None  # float rounding at a tie moved a tap: not periodic
    taps = block > 0
    counts = taps.sum(1)
    # Pillow: floor((S * k + 2**21) / 2**22) with k = round(2**22 / n) for a sum S of n
    # pixels, i.e. S / n rounded half up, a tie going the way k's own rounding went. Only
    # ties (n even) lie within 1 / (2 n) >= 1 / 128 of a rounding boundary; a float32
    # product of the pixels with weights 1 / n is off by under (2 n + 1) 2**-24 255 < 2.1e-3,
    # so floor(sum + 0.5 +- 4e-3) is Pillow's value, the sign taken from k.
    fixed = np.floor(0.5 + (1.0 / counts) * (1 << _BITS))
    down = (counts % 2 == 0) & (fixed * counts < (1 << _BITS))
    up = (counts % 2 == 0) & ~down
    if down.any() and up.any():
        return None  # ties both ways on one axis: one offset cannot serve (Pillow runs)
    weights = (taps / counts[:, None]).astype(np.float32)
    return blocks, weights, 0.5 - _MARGIN if down.any() else 0.5 + _MARGIN


class BoxResize:
    """Resize ``(H0, W0, 3)`` uint8 frames to ``size = (H, W)`` exactly as Pillow's BOX.

    Build once per input size; :attr:`exact_matrices` tells whether the matrix path applies
    (else each call runs Pillow).
    """

    def __init__(self, in_size: Tuple[int, int], size: Tuple[int, int]) -> None:
        """Precompute both axes' weights for ``in_size = (H0, W0)``."""
        (self.h0, self.w0), (self.h, self.w) = ((int(a), int(b)) for a, b in (in_size, size))
        if min(self.h0, self.w0, self.h, self.w) < 1:
            raise ValueError(f'sizes must be positive, got {in_size} -> {size}')
        self._x = None if self.w0 == self.w else _axis(self.w0, self.w)
        self._y = None if self.h0 == self.h else _axis(self.h0, self.h)
        self.exact_matrices = ((self.w0 == self.w or self._x is not None)
                               and (self.h0 == self.h or self._y is not None))
        if self._x is not None:  # columns (x, channel) of one period, channels kept apart
            blocks, weights, offset = self._x
            self._x = (blocks, np.kron(weights.T, np.eye(3, dtype=np.float32)), offset)
        self._matrices = self._passes()

    def matrices(self) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Return the two passes as ``(columns, column offset, rows, row offset)``, float32.

        The resize of a frame ``x`` ``(H0, W0, 3)`` is then, with ``floor`` Pillow's rounding:
        ``a = floor(x.reshape(-1, c) @ columns + column offset)`` for ``c`` the columns'
        row count (one period of ``(pixel, channel)`` pairs), and
        ``floor(rows @ a.reshape(-1, r, W * 3) + row offset).reshape(H, W, 3)`` for ``r``
        the rows' column count (one period of input rows). An axis that keeps its size has
        an identity period. None where :attr:`exact_matrices` is false.
        """
        return self._matrices

    def _passes(self) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Build :meth:`matrices`' arrays (once, at construction)."""
        if not self.exact_matrices:
            return None
        if self._x is None:
            columns, column_offset = np.eye(3, dtype=np.float32), 0.5
        else:
            columns, column_offset = self._x[1], self._x[2]
        if self._y is None:
            rows, row_offset = np.ones((1, 1), np.float32), 0.5
        else:
            rows, row_offset = self._y[1], self._y[2]
        return (columns, np.array(column_offset, np.float32), np.ascontiguousarray(rows),
                np.array(row_offset, np.float32))

    def values(self, rgb: np.ndarray) -> np.ndarray:
        """Return the resized frame ``(H, W, 3)`` as float32 integers 0-255 (Pillow's uint8)."""
        if rgb.shape != (self.h0, self.w0, 3) or rgb.dtype != np.uint8:
            raise ValueError(f'expected a ({self.h0}, {self.w0}, 3) uint8 frame, got '
                             f'{rgb.shape} {rgb.dtype}')
        if not self.exact_matrices:
            return _pillow(rgb, (self.h, self.w)).astype(np.float32)
        out = rgb.astype(np.float32)
        if self._x is not None:
            blocks, weights, offset = self._x
            means = out.reshape(self.h0 * blocks, -1) @ weights
            out = _round(means, offset).reshape(self.h0, self.w, 3)
        if self._y is not None:
            blocks, weights, offset = self._y
            means = np.matmul(weights, out.reshape(blocks, -1, self.w * 3))
            out = _round(means, offset).reshape(self.h, self.w, 3)
        return out

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Return the resized frame ``(H, W, 3)`` uint8."""
        return self.values(rgb).astype(np.uint8)


def _pillow(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Return Pillow's own BOX resize of ``image`` to ``size = (H, W)``."""
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BOX))


def _round(means: np.ndarray, offset: float) -> np.ndarray:
    """Return Pillow's rounding of the pixel ``means``, in place (see ``_axis``)."""
    means += offset
    return np.floor(means, out=means)


@functools.lru_cache(maxsize=16)
def resize_plan(in_size: Tuple[int, int], size: Tuple[int, int]) -> BoxResize:
    """Return the cached :class:`BoxResize` for a pair of sizes."""
    return BoxResize(in_size, size)


def box_resize(rgb: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``rgb`` ``(H0, W0, 3)`` uint8 at ``size = (H, W)``, equal to Pillow's BOX resize.

    The weights are cached per pair of sizes (a camera keeps its size). Other arrays than
    ``(H0, W0, 3)`` uint8 (grey, RGBA) go to Pillow as they are.
    """
    rgb = np.asarray(rgb)
    size = (int(size[0]), int(size[1]))
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        return _pillow(rgb, size)
    return resize_plan(tuple(rgb.shape[:2]), size)(rgb)
