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

"""The one pinhole camera model of the package.

Intrinsics under resizing and cropping, intrinsics from a field of view, pixel grids and
back-projection.

Pixel centres sit at integer coordinates: the top-left pixel's centre is ``(0, 0)`` and the
bottom-right one's is ``(W - 1, H - 1)``, as ROS ``CameraInfo`` has it. Resizing an image by
``s`` therefore maps ``u`` to ``(u + 0.5) * s - 0.5``. Functions on intrinsics accept numpy
arrays and torch tensors alike and return the same kind.

May import: torch, numpy and :mod:`mono_depth_ros.core.checks` only.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, TypeVar, Union

from mono_depth_ros.core.checks import check_shape
import numpy as np
import torch

__all__ = [
    'crop_intrinsics',
    'depth_to_points',
    'flip_intrinsics',
    'intrinsics_from_fov',
    'intrinsics_matrix',
    'pixel_grid',
    'resize_intrinsics',
    'scale_intrinsics',
]

Matrix = TypeVar('Matrix', np.ndarray, torch.Tensor)


def _copy(intrinsics: Matrix) -> Matrix:
    if isinstance(intrinsics, torch.Tensor):
        check_shape(intrinsics, ('*', 3, 3), 'intrinsics')
        return intrinsics.clone()
    out = np.array(intrinsics, dtype=np.float64, copy=True)
    if out.shape[-2:] != (3, 3):
        raise ValueError(f'intrinsics must have shape (*, 3, 3), got {out.shape}')
    return out


def scale_intrinsics(intrinsics: Matrix, sx: float, sy: float) -> Matrix:
    """Intrinsics of an image resized by ``(sx, sy)`` (new size / old size).

    The focal lengths (and skew) scale by ``sx`` and ``sy``; the principal point follows
    ``c' = (c + 0.5) * s - 0.5`` (pixel centres at integer coordinates).

    Args:
        intrinsics: camera matrices ``K``, shape ``(*, 3, 3)`` (numpy or torch).
        sx: horizontal scale factor.
        sy: vertical scale factor.

    Returns:
        The resized image's camera matrices, same shape and kind.

    Example:
        >>> scale_intrinsics(np.eye(3), 2.0, 2.0)[0, 2]
        0.5

    """
    out = _copy(intrinsics)
    out[..., 0, 0] = intrinsics[..., 0, 0] * sx
    out[..., 0, 1] = intrinsics[..., 0, 1] * sx
    out[..., 1, 1] = intrinsics[..., 1, 1] * sy
    out[..., 0, 2] = (intrinsics[..., 0, 2] + 0.5) * sx - 0.5
    out[..., 1, 2] = (intrinsics[..., 1, 2] + 0.5) * sy - 0.5
    return out


def resize_intrinsics(intrinsics: Matrix, old_size: Sequence[int],
                      new_size: Sequence[int]) -> Matrix:
    """Intrinsics for an image resized from ``old_size`` to ``new_size`` (both ``(H, W)``)."""
    (h0, w0), (h1, w1) = old_size, new_size
    if min(h0, w0, h1, w1) <= 0:
        raise ValueError(f'image sizes must be positive, got {old_size} and {new_size}')
    return scale_intrinsics(intrinsics, w1 / w0, h1 / h0)


def crop_intrinsics(intrinsics: Matrix, left: float, top: float) -> Matrix:
    """Intrinsics of the crop whose top-left pixel was ``(left, top)`` in the original."""
    out = _copy(intrinsics)
    out[..., 0, 2] = intrinsics[..., 0, 2] - left
    out[..., 1, 2] = intrinsics[..., 1, 2] - top
    return out


def flip_intrinsics(intrinsics: Matrix, width: int) -> Matrix:
    """Intrinsics of the image mirrored left to right (``u' = W - 1 - u``).

    The mirrored image is what a camera with these intrinsics sees of the world mirrored
    in its optical frame's x (``x' = -x``): the principal point moves to ``W - 1 - cx`` and
    the skew changes sign. A motion ``b_T_a`` of the original becomes ``M b_T_a M`` with
    ``M = diag(-1, 1, 1)``: ``(tx, ty, tz, rx, ry, rz)`` becomes ``(-tx, ty, tz, rx, -ry,
    -rz)``.

    Example:
        >>> flip_intrinsics(intrinsics_matrix(50.0, 50.0, 20.0, 12.0), 64)[0, 2]
        43.0

    """
    if width <= 0:
        raise ValueError(f'the image width must be positive, got {width}')
    out = _copy(intrinsics)
    out[..., 0, 1] = -intrinsics[..., 0, 1]
    out[..., 0, 2] = (width - 1) - intrinsics[..., 0, 2]
    return out


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """``(3, 3)`` float64 pinhole matrix; focal lengths must be positive and finite."""
    values = (fx, fy, cx, cy)
    if not all(math.isfinite(v) for v in values) or fx <= 0 or fy <= 0:
        raise ValueError(f'intrinsics need finite fx, fy > 0 and finite cx, cy; got {values}')
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def intrinsics_from_fov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Pinhole intrinsics ``(3, 3)``: square pixels, centred principal point.

    Example:
        >>> intrinsics_from_fov(2, 2, 90.0)[0, 0]
        1.0

    """
    if not 1.0 < hfov_deg < 179.0:
        raise ValueError(f'horizontal field of view must be in (1, 179) degrees, got '
                         f'{hfov_deg}')
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    return intrinsics_matrix(f, f, (width - 1) / 2, (height - 1) / 2)


def pixel_grid(height: int, width: int, dtype: torch.dtype = torch.float32,
               device: Optional[Union[str, torch.device]] = None) -> torch.Tensor:
    """Homogeneous pixel coordinates ``(u, v, 1)``, shape ``(1, 3, H, W)``.

    Build it once and pass it to :func:`depth_to_points` to avoid rebuilding it per call.
    """
    v, u = torch.meshgrid(torch.arange(height, dtype=dtype, device=device),
                          torch.arange(width, dtype=dtype, device=device), indexing='ij')
    return torch.stack([u, v, torch.ones_like(u)], dim=0)[None]


def depth_to_points(depth: torch.Tensor, intrinsics: torch.Tensor,
                    grid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Back-project a depth map (z along the optical axis) to camera-frame points.

    Args:
        depth: depth in metres, shape ``(B, 1, H, W)``.
        intrinsics: camera matrices, shape ``(B, 3, 3)``.
        grid: optional cached :func:`pixel_grid` of shape ``(1, 3, H, W)``.

    Returns:
        Points ``(x, y, z)`` in the camera frame, shape ``(B, 3, H, W)``.

    Example:
        >>> depth_to_points(torch.ones(1, 1, 4, 5), torch.eye(3)[None]).shape
        torch.Size([1, 3, 4, 5])

    """
    check_shape(depth, ('B', 1, 'H', 'W'), 'depth')
    check_shape(intrinsics, (depth.shape[0], 3, 3), 'intrinsics')
    b, _, h, w = depth.shape
    if grid is None:
        grid = pixel_grid(h, w, depth.dtype, depth.device)
    check_shape(grid, (1, 3, h, w), 'grid')
    rays = torch.linalg.inv(intrinsics) @ grid.reshape(1, 3, h * w)
    return (rays * depth.reshape(b, 1, h * w)).reshape(b, 3, h, w)
