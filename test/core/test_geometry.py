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

"""Geometry against independent references: scipy rotations, numpy projection, a render."""

from mono_depth_ros.core.geometry import (compose, euler_to_rotation, inverse_transform,
                                          inverse_warp, mat_to_pose_vec, pose_vec_to_mat,
                                          transform_points)
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
import torch


def _random_vecs(n, seed=0, max_angle=1.2):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, 3, generator=g, dtype=torch.float64) * 3
    r = (torch.rand(n, 3, generator=g, dtype=torch.float64) * 2 - 1) * max_angle
    return torch.cat([t, r], 1)


def test_euler_matches_scipy_intrinsic_xyz():
    vecs = _random_vecs(50)
    ours = euler_to_rotation(vecs[:, 3:]).numpy()
    ref = Rotation.from_euler('XYZ', vecs[:, 3:].numpy()).as_matrix()
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_pose_vector_round_trip():
    vecs = _random_vecs(200, seed=1)
    back = mat_to_pose_vec(pose_vec_to_mat(vecs))
    torch.testing.assert_close(back, vecs, atol=1e-10, rtol=0)
    # and the matrix round trip from arbitrary rotations (scipy random, |ry| < pi/2 always)
    rot = Rotation.random(100, random_state=3).as_matrix()
    mats = torch.eye(4, dtype=torch.float64).repeat(100, 1, 1)
    mats[:, :3, :3] = torch.from_numpy(rot)
    mats[:, :3, 3] = torch.randn(100, 3, dtype=torch.float64)
    torch.testing.assert_close(pose_vec_to_mat(mat_to_pose_vec(mats)), mats, atol=1e-10,
                               rtol=0)


def test_inverse_and_compose():
    a = pose_vec_to_mat(_random_vecs(20, seed=2))
    b = pose_vec_to_mat(_random_vecs(20, seed=3))
    eye = torch.eye(4, dtype=torch.float64).expand(20, 4, 4)
    torch.testing.assert_close(compose(a, inverse_transform(a)), eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(inverse_transform(a), torch.linalg.inv(a), atol=1e-12, rtol=0)
    pts = torch.randn(20, 7, 3, dtype=torch.float64)
    torch.testing.assert_close(transform_points(compose(a, b), pts),
                               transform_points(a, transform_points(b, pts)))


def test_pose_vec_shape_error_is_specific():
    with pytest.raises(ValueError, match=r'vec must have shape \(\*, 6\)'):
        pose_vec_to_mat(torch.zeros(2, 7))


def _numpy_projection(depth, k, source_T_target):
    """Independent float64 numpy projection of every target pixel into the source."""
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.linalg.inv(k) @ np.stack([u.ravel(), v.ravel(), np.ones(h * w)])
    pts = rays * depth.ravel()
    moved = source_T_target[:3, :3] @ pts + source_T_target[:3, 3:]
    proj = k @ moved
    return (proj[0] / proj[2]).reshape(h, w), (proj[1] / proj[2]).reshape(h, w), \
        moved[2].reshape(h, w)


def test_warp_with_true_depth_and_pose_reproduces_the_target(rendered_pair):
    p = rendered_pair
    warped, mask = inverse_warp(p['source_image'][None], p['target_depth'][None],
                                p['source_T_target'][None], p['K'][None])
    valid = mask[0, 0] > 0
    err = (warped[0] - p['target_image']).abs().mean(0)[valid]
    no_warp = (p['source_image'] - p['target_image']).abs().mean()
    assert valid.float().mean() > 0.6
    # bilinear resampling of a smooth texture; surface creases keep a few pixels off
    assert err.median() < 0.005
    assert err.mean() < 0.015
    assert no_warp / err.mean() > 5


def test_warp_is_exact_on_a_linear_image(rendered_pair):
    # Bilinear sampling reproduces a linear function of (u, v) exactly, so the warped image
    # must equal that function at the independently computed source coordinates.
    p = rendered_pair
    h, w = p['height'], p['width']
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                          torch.arange(w, dtype=torch.float64), indexing='ij')
    ramp = torch.stack([0.002 * u + 0.001 * v, 0.5 - 0.001 * u, 0.003 * v])[None]
    warped, mask = inverse_warp(ramp, p['target_depth'][None], p['source_T_target'][None],
                                p['K'][None])
    su, sv, _ = _numpy_projection(p['target_depth'][0].numpy(), p['K'].numpy(),
                                  p['source_T_target'].numpy())
    expect = np.stack([0.002 * su + 0.001 * sv, 0.5 - 0.001 * su, 0.003 * sv])
    valid = mask[0, 0].numpy() > 0
    np.testing.assert_allclose(warped[0].numpy()[:, valid], expect[:, valid], atol=1e-9)


def test_mask_is_exactly_the_pixels_projecting_inside(rendered_pair):
    p = rendered_pair
    h, w = p['height'], p['width']
    _, mask = inverse_warp(p['source_image'][None], p['target_depth'][None],
                           p['source_T_target'][None], p['K'][None])
    su, sv, z = _numpy_projection(p['target_depth'][0].numpy(), p['K'].numpy(),
                                  p['source_T_target'].numpy())
    expect = (su >= 0) & (su <= w - 1) & (sv >= 0) & (sv <= h - 1) & (z > 0)
    # Pixels within 1e-9 px of the border may round either way.
    border = (np.abs(su) < 1e-9) | (np.abs(su - (w - 1)) < 1e-9) | (np.abs(sv) < 1e-9) \
        | (np.abs(sv - (h - 1)) < 1e-9)
    got = mask[0, 0].numpy() > 0
    assert 0 < expect.sum() < expect.size  # the motion takes some pixels out of view
    assert np.array_equal(got[~border], expect[~border])


def test_points_behind_the_camera_are_masked():
    k = torch.tensor([[[50.0, 0, 15.5], [0, 50, 11.5], [0, 0, 1]]], dtype=torch.float64)
    depth = torch.full((1, 1, 24, 32), 2.0, dtype=torch.float64)
    back = pose_vec_to_mat(torch.tensor([[0, 0, -5.0, 0, 0, 0]], dtype=torch.float64))
    _, mask = inverse_warp(torch.rand(1, 3, 24, 32, dtype=torch.float64), depth, back, k)
    assert mask.sum() == 0


def test_warp_batch_size_is_free(rendered_pair):
    p = rendered_pair
    args = [p['source_image'][None], p['target_depth'][None], p['source_T_target'][None],
            p['K'][None]]
    one, _ = inverse_warp(*args)
    three, _ = inverse_warp(*[a.repeat(3, *([1] * (a.dim() - 1))) for a in args])
    for i in range(3):
        torch.testing.assert_close(three[i], one[0])


def test_gradcheck_warp_and_pose():
    torch.manual_seed(0)
    k = torch.tensor([[[8.0, 0, 3.5], [0, 8, 2.5], [0, 0, 1]]], dtype=torch.float64)
    img = torch.rand(1, 2, 6, 8, dtype=torch.float64)
    depth = (torch.rand(1, 1, 6, 8, dtype=torch.float64) + 3).requires_grad_()
    vec = torch.tensor([[0.02, -0.01, 0.03, 0.01, -0.02, 0.015]], dtype=torch.float64,
                       requires_grad=True)

    def f(d, v):
        return inverse_warp(img, d, pose_vec_to_mat(v), k)[0]

    assert torch.autograd.gradcheck(f, (depth, vec), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(mat_to_pose_vec, (pose_vec_to_mat(vec.detach()).clone()
                                                      .requires_grad_(),))
