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


"""The paper's photometric and geometric augmentations, applied per snippet.

Every frame of a snippet gets the same random gamma, brightness and per-channel colour
factor, and the same zoom (scale by ``[1, 1.15]`` then crop back to the input size at a
random offset); the intrinsics follow the zoom and the crop. With ``augment.flip`` a
snippet is also mirrored left to right (every frame, the intrinsics with it). Random
numbers come from an explicit generator, so a run (and a resumed or distributed run) draws
the same ones; with ``flip`` 0 the stream is the one runs drew before it existed.

May import: :mod:`mono_depth_ros` (core, data, evaluation, sim) and this package; never
``runtime`` or ``ros``.
"""

from __future__ import annotations

from typing import Tuple

from mono_depth_ros.core.camera import crop_intrinsics, flip_intrinsics, resize_intrinsics
from mono_depth_ros_training.config import AugmentConfig
import torch
import torch.nn.functional as F

__all__ = ['augment_batch']


def _uniform(low_high, n: int, generator: torch.Generator) -> torch.Tensor:
    low, high = low_high
    return low + (high - low) * torch.rand(n, generator=generator)


def draw_parameters(config: AugmentConfig, n: int,
                    generator: torch.Generator) -> dict:
    """Random parameters for ``n`` snippets (drawn for the global batch, then sliced)."""
    params = {
        'gamma': _uniform(config.gamma, n, generator),
        'brightness': _uniform(config.brightness, n, generator),
        'colour': _uniform(config.colour, 3 * n, generator).reshape(n, 3),
        'zoom': _uniform(config.scale, n, generator),
        'offset': torch.rand(n, 2, generator=generator),
    }
    if config.flip > 0:  # drawn last and only then: earlier runs' streams stay as they were
        params['flip'] = torch.rand(n, generator=generator) < config.flip
    return params


def augment_batch(images: torch.Tensor, intrinsics: torch.Tensor, params: dict
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Apply drawn ``params`` to ``images`` ``(B, S, 3, H, W)`` and ``intrinsics`` ``(B, 3, 3)``.

    Returns:
        The augmented images (same shape, in ``[0, 1]``) and intrinsics.

    """
    b, s, c, h, w = images.shape
    out_images, out_k = [], []
    for i in range(b):
        frames = images[i]
        k = intrinsics[i]
        zoom = float(params['zoom'][i])
        if zoom > 1.0:
            nh, nw = int(round(h * zoom)), int(round(w * zoom))
            big = F.interpolate(frames, size=(nh, nw), mode='bilinear', align_corners=False)
            oy = int(float(params['offset'][i, 0]) * (nh - h + 1 - 1e-6))
            ox = int(float(params['offset'][i, 1]) * (nw - w + 1 - 1e-6))
            frames = big[..., oy:oy + h, ox:ox + w]
            k = crop_intrinsics(resize_intrinsics(k, (h, w), (nh, nw)), ox, oy)
        if 'flip' in params and bool(params['flip'][i]):
            frames = frames.flip(-1)
            k = flip_intrinsics(k, w)
        frames = frames.clamp(0, 1) ** params['gamma'][i]
        frames = frames * params['brightness'][i] * params['colour'][i].view(1, 3, 1, 1)
        out_images.append(frames.clamp(0, 1))
        out_k.append(k)
    return torch.stack(out_images), torch.stack(out_k)
