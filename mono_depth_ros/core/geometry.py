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

"""Rigid-body geometry: pose vectors, transforms, projection and inverse warping.

Conventions (used by every module of the package):

* Pixel coordinates ``(u, v)`` put the centre of the top-left pixel at ``(0, 0)`` and the
  centre of the bottom-right one at ``(W - 1, H - 1)``, as ROS ``CameraInfo`` does. Sampling
  uses ``grid_sample(..., align_corners=True)``, which is the same convention, so projection
  and sampling never disagree by half a pixel.
* Camera frames are optical frames (REP 103): x right, y down, z forward.
* A 4x4 transform ``a_T_b`` maps points given in frame ``b`` into frame ``a``.
* A 6-DoF pose vector is ``(tx, ty, tz, rx, ry, rz)``: translation, then Euler angles in
  radians with ``R = Rx(rx) @ Ry(ry) @ Rz(rz)`` (scipy's intrinsic ``'XYZ'``).
* Batch size is never fixed anywhere: every function takes whatever batch it is given.

The camera model (intrinsics, pixel grids, back-projection) is :mod:`mono_depth_ros.core.camera`.

May import: torch and the core modules ``camera`` and ``checks``.
"""

from __future__ import annotations

from typing import Optional, Tuple

from mono_depth_ros.core.camera import depth_to_points
from mono_depth_ros.core.checks import check_shape
import torch
import torch.nn.functional as F

__all__ = [
    'compose',
    'euler_to_rotation',
    'inverse_transform',
    'inverse_warp',
    'pose_vec_to_mat',
    'mat_to_pose_vec',
    'project_points',
    'rotation_to_euler',
    'sample_pixels',
    'transform_points',
    'validity_mask',
]

_MIN_Z = 1e-3  # points closer than this (metres, along z) cannot be projected


def euler_to_rotation(angles: torch.Tensor) -> torch.Tensor:
    """Build rotation matrices ``R = Rx(rx) @ Ry(ry) @ Rz(rz)``.

    Args:
        angles: Euler angles ``(rx, ry, rz)`` in radians, shape ``(*, 3)``.

    Returns:
        Rotation matrices, shape ``(*, 3, 3)``.

    """
    check_shape(angles, ('*', 3), 'angles')
    rx, ry, rz = angles.unbind(-1)
    cx, sx = torch.cos(rx), torch.sin(rx)
    cy, sy = torch.cos(ry), torch.sin(ry)
    cz, sz = torch.cos(rz), torch.sin(rz)
    # Rx @ Ry @ Rz written out.
    rows = [
        cy * cz, -cy * sz, sy,
        sx * sy * cz + cx * sz, -sx * sy * sz + cx * cz, -sx * cy,
        -cx * sy * cz + sx * sz, cx * sy * sz + sx * cz, cx * cy,
    ]
    return torch.stack(rows, dim=-1).reshape(angles.shape[:-1] + (3, 3))


def rotation_to_euler(rotation: torch.Tensor) -> torch.Tensor:
    """Invert :func:`euler_to_rotation` (``ry`` in ``[-pi/2, pi/2]``).

    Args:
        rotation: rotation matrices, shape ``(*, 3, 3)``.

    Returns:
        Euler angles ``(rx, ry, rz)``, shape ``(*, 3)``.

    """
    check_shape(rotation, ('*', 3, 3), 'rotation')
    ry = torch.asin(rotation[..., 0, 2].clamp(-1.0, 1.0))
    rx = torch.atan2(-rotation[..., 1, 2], rotation[..., 2, 2])
    rz = torch.atan2(-rotation[..., 0, 1], rotation[..., 0, 0])
    return torch.stack([rx, ry, rz], dim=-1)


def pose_vec_to_mat(vec: torch.Tensor) -> torch.Tensor:
    """Turn 6-DoF vectors ``(tx, ty, tz, rx, ry, rz)`` into 4x4 transforms.

    Args:
        vec: pose vectors, shape ``(*, 6)``.

    Returns:
        Homogeneous transforms, shape ``(*, 4, 4)``.

    Example:
        >>> pose_vec_to_mat(torch.zeros(2, 6)).shape
        torch.Size([2, 4, 4])

    """
    check_shape(vec, ('*', 6), 'vec')
    rotation = euler_to_rotation(vec[..., 3:])
    top = torch.cat([rotation, vec[..., :3, None]], dim=-1)
    bottom = torch.zeros(vec.shape[:-1] + (1, 4), dtype=vec.dtype, device=vec.device)
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def mat_to_pose_vec(transform: torch.Tensor) -> torch.Tensor:
    """Invert :func:`pose_vec_to_mat`.

    Args:
        transform: homogeneous transforms, shape ``(*, 4, 4)``.

    Returns:
        Pose vectors ``(tx, ty, tz, rx, ry, rz)``, shape ``(*, 6)``.

    """
    check_shape(transform, ('*', 4, 4), 'transform')
    return torch.cat([transform[..., :3, 3], rotation_to_euler(transform[..., :3, :3])], -1)


def inverse_transform(transform: torch.Tensor) -> torch.Tensor:
    """Invert rigid transforms in closed form: ``b_T_a`` from ``a_T_b``.

    Args:
        transform: rigid transforms, shape ``(*, 4, 4)``.

    Returns:
        The inverses, shape ``(*, 4, 4)``.

    """
    check_shape(transform, ('*', 4, 4), 'transform')
    rotation_t = transform[..., :3, :3].transpose(-1, -2)
    translation = -(rotation_t @ transform[..., :3, 3:])
    out = torch.zeros_like(transform)
    out[..., :3, :3] = rotation_t
    out[..., :3, 3:] = translation
    out[..., 3, 3] = 1.0
    return out


def compose(a_T_b: torch.Tensor, b_T_c: torch.Tensor) -> torch.Tensor:
    """Chain two transforms: ``a_T_c = a_T_b @ b_T_c`` (shapes ``(*, 4, 4)``)."""
    check_shape(a_T_b, ('*', 4, 4), 'a_T_b')
    check_shape(b_T_c, ('*', 4, 4), 'b_T_c')
    return a_T_b @ b_T_c


def transform_points(a_T_b: torch.Tensor, points_b: torch.Tensor) -> torch.Tensor:
    """Move points from frame ``b`` to frame ``a``.

    Args:
        a_T_b: transforms, shape ``(B, 4, 4)``.
        points_b: points in frame ``b``, shape ``(B, N, 3)``.

    Returns:
        The points in frame ``a``, shape ``(B, N, 3)``.

    """
    check_shape(a_T_b, ('B', 4, 4), 'a_T_b')
    check_shape(points_b, ('B', 'N', 3), 'points_b')
    return points_b @ a_T_b[:, :3, :3].transpose(1, 2) + a_T_b[:, None, :3, 3]


def project_points(points: torch.Tensor, intrinsics: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Project camera-frame points to pixel coordinates.

    Args:
        points: points in the camera frame, shape ``(B, 3, H, W)``.
        intrinsics: camera matrices, shape ``(B, 3, 3)``.

    Returns:
        ``(pixels, z)``: pixel coordinates ``(u, v)`` of shape ``(B, 2, H, W)`` and the depth
        of each point, shape ``(B, 1, H, W)``. Points with ``z`` below 1 mm are divided by
        1 mm instead; :func:`validity_mask` marks them invalid.

    """
    check_shape(points, ('B', 3, 'H', 'W'), 'points')
    check_shape(intrinsics, (points.shape[0], 3, 3), 'intrinsics')
    b, _, h, w = points.shape
    image_points = (intrinsics @ points.reshape(b, 3, h * w)).reshape(b, 3, h, w)
    z = image_points[:, 2:3]
    pixels = image_points[:, :2] / z.clamp(min=_MIN_Z)
    return pixels, points[:, 2:3]


def validity_mask(pixels: torch.Tensor, z: torch.Tensor, height: int, width: int
                  ) -> torch.Tensor:
    """Compute the paper's principled mask: 1 where bilinear sampling stays inside the image.

    A pixel is valid when its projection lies in front of the camera and its 2x2 sampling
    neighbourhood lies inside the source image, i.e. ``0 <= u <= W - 1`` and
    ``0 <= v <= H - 1``.

    Args:
        pixels: pixel coordinates, shape ``(B, 2, H', W')``.
        z: depth of the projected points, shape ``(B, 1, H', W')``.
        height: source image height ``H``.
        width: source image width ``W``.

    Returns:
        The mask as ``0.0`` / ``1.0`` in the pixels' dtype, shape ``(B, 1, H', W')``.

    """
    u, v = pixels[:, 0:1], pixels[:, 1:2]
    valid = (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1) & (z >= _MIN_Z)
    return valid.to(pixels.dtype)


def sample_pixels(image: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` ``(B, C, H, W)`` bilinearly at pixel coordinates ``(B, 2, H', W')``.

    Pixel centres are integers (``align_corners=True``), samples outside are zero; returns
    ``(B, C, H', W')``. The one sampling convention of the warp and the refinement.
    """
    h, w = image.shape[-2:]
    norm = torch.stack([2.0 * pixels[:, 0] / max(w - 1, 1) - 1.0,
                        2.0 * pixels[:, 1] / max(h - 1, 1) - 1.0], dim=-1)
    return F.grid_sample(image, norm, mode='bilinear', padding_mode='zeros',
                         align_corners=True)


def inverse_warp(source_image: torch.Tensor, target_depth: torch.Tensor,
                 source_T_target: torch.Tensor, intrinsics: torch.Tensor,
                 grid: Optional[torch.Tensor] = None
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reconstruct the target view by sampling the source image.

    Each target pixel is back-projected with the target depth, moved into the source camera
    and projected; the source image is sampled there bilinearly.

    Args:
        source_image: source image, shape ``(B, C, H, W)``.
        target_depth: depth of the target view, shape ``(B, 1, H, W)``.
        source_T_target: transform from target to source camera, shape ``(B, 4, 4)``.
        intrinsics: camera matrices valid for this resolution, shape ``(B, 3, 3)``.
        grid: optional cached :func:`~mono_depth_ros.core.camera.pixel_grid`, shape
            ``(1, 3, H, W)``.

    Returns:
        ``(warped, mask)``: the reconstructed target, shape ``(B, C, H, W)``, and the validity
        mask (see :func:`validity_mask`), shape ``(B, 1, H, W)``. Samples that fall outside
        the source image are zero-padded; the mask marks which pixels to trust.

    """
    check_shape(source_image, ('B', 'C', 'H', 'W'), 'source_image')
    b, _, h, w = source_image.shape
    check_shape(target_depth, (b, 1, h, w), 'target_depth')
    check_shape(source_T_target, (b, 4, 4), 'source_T_target')
    points = depth_to_points(target_depth, intrinsics, grid)
    moved = transform_points(source_T_target, points.reshape(b, 3, h * w).transpose(1, 2))
    moved = moved.transpose(1, 2).reshape(b, 3, h, w)
    pixels, z = project_points(moved, intrinsics)
    return sample_pixels(source_image, pixels), validity_mask(pixels, z, h, w)
