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

"""The camera model against closed forms and the projection it must agree with."""

import math

from mono_depth_ros.core.camera import (crop_intrinsics, depth_to_points, flip_intrinsics,
                                        intrinsics_from_fov, intrinsics_matrix,
                                        resize_intrinsics, scale_intrinsics)
from mono_depth_ros.core.geometry import pose_vec_to_mat, project_points
import numpy as np
import pytest
import torch


def test_scale_intrinsics_keeps_pixel_centres():
    # A point that projects to full-resolution pixel u lands at (u + 0.5) * s - 0.5 in an
    # image resized by s (pixel centres at integers): checked against the definition.
    k = torch.tensor([[[300.0, 0, 207.3], [0, 290, 61.8], [0, 0, 1]]], dtype=torch.float64)
    pts = torch.tensor([[[1.0, -0.4, 7.0], [-2.0, 0.3, 4.0]]], dtype=torch.float64)
    for sx, sy in ((0.5, 0.5), (0.25, 0.5), (1.6, 1.2)):
        full, _ = project_points(pts.transpose(1, 2)[..., None], k)
        small, _ = project_points(pts.transpose(1, 2)[..., None],
                                  scale_intrinsics(k, sx, sy))
        expect_u = (full[:, 0] + 0.5) * sx - 0.5
        expect_v = (full[:, 1] + 0.5) * sy - 0.5
        torch.testing.assert_close(small[:, 0], expect_u)
        torch.testing.assert_close(small[:, 1], expect_v)


def test_depth_to_points_projects_back_to_its_pixels():
    k = torch.tensor([[[210.0, 0, 50.5], [0, 200, 20.2], [0, 0, 1]]], dtype=torch.float64)
    depth = torch.rand(1, 1, 40, 100, dtype=torch.float64) * 20 + 0.5
    pts = depth_to_points(depth, k)
    torch.testing.assert_close(pts[:, 2:3], depth)
    pixels, _ = project_points(pts, k)
    v, u = np.mgrid[0:40, 0:100]
    np.testing.assert_allclose(pixels[0, 0].numpy(), u, atol=1e-9)
    np.testing.assert_allclose(pixels[0, 1].numpy(), v, atol=1e-9)


def test_intrinsics_from_fov_closed_form():
    """90 degrees: focal = half the width; the principal point is the image centre."""
    k = intrinsics_from_fov(640, 480, 90.0)
    np.testing.assert_allclose(k, [[320, 0, 319.5], [0, 320, 239.5], [0, 0, 1]], atol=1e-9)
    k = intrinsics_from_fov(416, 128, 60.0)
    assert math.isclose(k[0, 0], 208 / math.tan(math.radians(30)))
    with pytest.raises(ValueError, match='field of view'):
        intrinsics_from_fov(416, 128, 200.0)


def test_numpy_and_torch_intrinsics_agree():
    k = np.array([[300.0, 0.5, 207.3], [0, 290, 61.8], [0, 0, 1]])
    as_numpy = scale_intrinsics(k, 0.37, 0.5)
    as_torch = scale_intrinsics(torch.from_numpy(k)[None], 0.37, 0.5)
    assert isinstance(as_numpy, np.ndarray) and isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch[0].numpy(), as_numpy, atol=1e-12)
    np.testing.assert_allclose(resize_intrinsics(k, (128, 416), (64, 154)),
                               scale_intrinsics(k, 154 / 416, 64 / 128), atol=1e-12)
    assert k[0, 2] == 207.3  # the input is never changed


def test_crop_moves_the_principal_point_only():
    # A point seen at pixel (u, v) is at (u - left, v - top) in the crop.
    k = np.array([[300.0, 0, 207.3], [0, 290, 61.8], [0, 0, 1]])
    point = np.array([1.0, -0.4, 7.0])
    full = k @ point
    cropped = crop_intrinsics(k, 12, 5) @ point
    np.testing.assert_allclose(cropped[:2] / cropped[2], full[:2] / full[2] - [12, 5])


def test_flip_mirrors_pixels_and_motions():
    # A point mirrored in x (x -> -x) is seen by the flipped intrinsics at (W - 1 - u, v),
    # skew included; and M T M of a motion is the pose vector with tx, ry, rz negated.
    k = np.array([[300.0, 2.5, 207.3], [0, 290, 61.8], [0, 0, 1]])
    width = 416
    points = np.random.default_rng(0).uniform([-3, -2, 2], [3, 2, 20], (50, 3))
    seen = points @ k.T
    mirrored = (points * [-1, 1, 1]) @ flip_intrinsics(k, width).T
    np.testing.assert_allclose(mirrored[:, 0] / mirrored[:, 2],
                               width - 1 - seen[:, 0] / seen[:, 2], atol=1e-9)
    np.testing.assert_allclose(mirrored[:, 1] / mirrored[:, 2], seen[:, 1] / seen[:, 2],
                               atol=1e-9)
    np.testing.assert_allclose(flip_intrinsics(torch.as_tensor(k), width).numpy(),
                               flip_intrinsics(k, width))
    vec = torch.tensor([[0.3, -0.1, 1.2, 0.05, -0.2, 0.1]], dtype=torch.float64)
    m = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    mirrored_vec = vec * torch.tensor([-1.0, 1, 1, 1, -1, -1], dtype=torch.float64)
    torch.testing.assert_close(m @ pose_vec_to_mat(vec) @ m, pose_vec_to_mat(mirrored_vec))
    with pytest.raises(ValueError, match='width must be positive'):
        flip_intrinsics(k, 0)


def test_intrinsics_matrix_refuses_bad_focal_lengths():
    with pytest.raises(ValueError, match='fx, fy > 0'):
        intrinsics_matrix(0.0, 100.0, 10.0, 10.0)
    with pytest.raises(ValueError, match='finite'):
        intrinsics_matrix(100.0, 100.0, float('nan'), 10.0)
