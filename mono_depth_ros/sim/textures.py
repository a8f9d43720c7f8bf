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

"""Photographs as tiling surface textures, sampled with mipmaps (no aliasing at distance).

Real photographs have the edges, corners and contrast that photometric matching needs and
that procedural noise lacks. The bank holds scikit-image's bundled photographs (public
domain or CC0, shipped in its wheel, nothing is downloaded), each cut to a square, resized
to :data:`TILE` pixels and turned into a mip pyramid. :func:`sample` looks a surface point
up by its metric coordinates and the pixel's footprint on the surface: the pyramid level
whose texels match the footprint is blended trilinearly, as a GPU's sampler would, so a far
wall does not sparkle from frame to frame.

May import: torch, numpy, rosbags, PyAV, scikit-image, :mod:`mono_depth_ros.core`,
:mod:`mono_depth_ros.data`.
"""

from __future__ import annotations

import functools
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['PHOTOS', 'TILE', 'bank', 'sample']

#: scikit-image photographs in the bank, in index order (all ship inside its wheel)
PHOTOS = ('brick', 'grass', 'gravel', 'rocket', 'coffee', 'chelsea', 'astronaut', 'camera',
          'coins', 'moon', 'page', 'text', 'hubble_deep_field', 'immunohistochemistry')
#: side of a texture tile in pixels (a power of two, so the pyramid halves exactly)
TILE = 256


def _load(name: str) -> np.ndarray:
    from skimage import data

    image = np.asarray(getattr(data, name)(), dtype=np.float32)
    if image.max() > 1.5:
        image = image / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return image[top:top + side, left:left + side]


@functools.lru_cache(maxsize=None)
def bank() -> Tuple[List[torch.Tensor], ...]:
    """Mip pyramids of every photograph: per photo a list of ``(3, n, n)`` float64, n halving.

    Each photo is contrast-normalised (mean 0.5, standard deviation 0.2 per channel) so
    that dark or flat photographs still carry texture.
    """
    pyramids = []
    for name in PHOTOS:
        image = torch.from_numpy(_load(name)).permute(2, 0, 1)[None].double()
        image = F.interpolate(image, size=(TILE, TILE), mode='area')
        mean = image.mean((2, 3), keepdim=True)
        std = image.std((2, 3), keepdim=True).clamp(min=1e-3)
        image = (0.5 + 0.2 * (image - mean) / std).clamp(0.0, 1.0)
        levels = [image[0]]
        while levels[-1].shape[-1] > 1:
            levels.append(F.avg_pool2d(levels[-1][None], 2)[0])
        pyramids.append(levels)
    return tuple(pyramids)


def _bilinear_wrap(level: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Sample a tiling ``(3, n, n)`` texture at tile coordinates ``u, v`` (1 = one tile)."""
    n = level.shape[-1]
    x, y = u * n - 0.5, v * n - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    i0, j0 = x0.long() % n, y0.long() % n
    i1, j1 = (i0 + 1) % n, (j0 + 1) % n
    flat = level.reshape(3, -1).T

    def texel(i, j):
        return flat[j * n + i]

    top = texel(i0, j0) * (1 - fx) + texel(i1, j0) * fx
    bottom = texel(i0, j1) * (1 - fx) + texel(i1, j1) * fx
    return top * (1 - fy) + bottom * fy


def sample(photo: int, a: torch.Tensor, b: torch.Tensor, tile_metres: float,
           footprint: torch.Tensor) -> torch.Tensor:
    """Colours ``(N, 3)`` of photograph ``photo`` tiled every ``tile_metres`` on a surface.

    Args:
        photo: index into :data:`PHOTOS` (taken modulo their number).
        a: first metric surface coordinate of each point, shape ``(N,)``.
        b: second metric surface coordinate, shape ``(N,)``.
        tile_metres: side of one tile on the surface.
        footprint: metres of surface one pixel covers at each point, shape ``(N,)``.

    """
    levels = bank()[photo % len(PHOTOS)]
    u, v = a / tile_metres, b / tile_metres
    texels = footprint * TILE / tile_metres
    lod = torch.log2(texels.clamp(min=1.0)).clamp(max=len(levels) - 1)
    low = torch.floor(lod).long()
    frac = (lod - low)[:, None]
    out = torch.zeros(a.shape[0], 3, dtype=levels[0].dtype, device=a.device)
    for k in torch.unique(low).tolist():
        sel = low == k
        near = _bilinear_wrap(levels[k].to(a.device), u[sel], v[sel])
        far = _bilinear_wrap(levels[min(k + 1, len(levels) - 1)].to(a.device), u[sel], v[sel])
        out[sel] = near * (1 - frac[sel]) + far * frac[sel]
    return out.to(a.dtype)
