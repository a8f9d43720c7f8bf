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

"""Photometric refinement of motions against a rendered scene with exact depth and motion."""

import math

from mono_depth_ros.core.geometry import pose_vec_to_mat
from mono_depth_ros.core.refine import (_normal_equations, _Pair, _total_cost, alignment_cost,
                                        refine_motion, RefineConfig)
import pytest
import torch


def _rotation_error_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    r = a[..., :3, :3].transpose(-1, -2) @ b[..., :3, :3]
    cos = ((r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return math.degrees(float(torch.arccos(cos).max()))


def _inputs(pair, perturbation):
    truth = pair['source_T_target'].reshape(1, 4, 4)
    start = pose_vec_to_mat(torch.tensor([perturbation], dtype=truth.dtype)) @ truth
    return (truth, start, pair['target_image'].reshape(1, 3, pair['height'], pair['width']),
            pair['source_image'].reshape(1, 3, pair['height'], pair['width']),
            pair['target_depth'].reshape(1, 1, pair['height'], pair['width']),
            pair['K'])


@pytest.mark.parametrize('grayscale, stride', [(True, 1), (False, 1), (True, 2)])
def test_refinement_recovers_the_true_motion_of_a_rendered_pair(rendered_pair, grayscale,
                                                                stride):
    """From 1.5 deg of yaw and 0.1 m off, the exact depth leads back to the exact motion."""
    truth, start, prev, nxt, depth, k = _inputs(rendered_pair,
                                                [0.1, -0.03, 0.05, 0.004, 0.026, -0.006])
    assert _rotation_error_deg(start, truth) > 1.4
    # Exact depth: no translation prior (it would hold the translation near the start).
    refined = refine_motion(start, prev, nxt, depth, k,
                            RefineConfig(iterations=10, grayscale=grayscale, stride=stride,
                                         translation_prior=0.0))
    assert refined.dtype == start.dtype and refined.shape == (1, 4, 4)
    assert _rotation_error_deg(refined, truth) < 0.03
    assert float((refined[0, :3, 3] - truth[0, :3, 3]).norm()) < 0.01
    # Rotations stay rotations.
    r = refined[0, :3, :3]
    torch.testing.assert_close(r @ r.T, torch.eye(3, dtype=r.dtype), atol=1e-9, rtol=0)
    assert alignment_cost(refined, prev, nxt, depth, k) < 0.3 * alignment_cost(
        start, prev, nxt, depth, k)


def test_closed_form_jacobian_matches_finite_differences(rendered_pair):
    """dr/d delta of the module equals central differences of the residual, to 1e-6.

    The next image is a plane in ``(u, v)`` per channel, where bilinear sampling is exact
    and the central-difference image gradient is the true one, so what is compared is the
    closed-form geometry (projection and perturbation) on the rendered depth and motion.
    """
    _, start, prev, _, depth, k = _inputs(rendered_pair, [0.05, 0.0, 0.02, 0.0, 0.01, 0.0])
    h, w = rendered_pair['height'], rendered_pair['width']
    v, u = torch.meshgrid(torch.arange(h, dtype=prev.dtype), torch.arange(w, dtype=prev.dtype),
                          indexing='ij')
    nxt = torch.stack([0.002 * u + 0.003 * v, -0.001 * u + 0.004 * v, 0.003 * u])[None]
    pair = _Pair(prev, nxt, depth, k)
    _, valid, q, uv = pair.residual(start)
    inside = (valid & (uv[..., 0] > 2) & (uv[..., 0] < w - 3) & (uv[..., 1] > 2)
              & (uv[..., 1] < h - 3)).repeat(1, 3).reshape(-1)
    assert inside.float().mean() > 0.5
    jac = pair.jacobian(q, uv)[0]  # (6, C * N)
    step = 1e-6
    for i in range(6):
        delta = torch.zeros(1, 6, dtype=start.dtype)
        delta[0, i] = step
        plus = pair.residual(pose_vec_to_mat(delta) @ start)[0].reshape(-1)
        minus = pair.residual(pose_vec_to_mat(-delta) @ start)[0].reshape(-1)
        numeric = (plus - minus) / (2 * step)
        torch.testing.assert_close(jac[i][inside], numeric[inside], atol=1e-6, rtol=1e-5)


def test_refinement_never_raises_the_cost_and_keeps_pairs_without_overlap(rendered_pair):
    """A step that does not lower the cost is refused; no overlap = the motion unchanged."""
    truth, start, prev, nxt, depth, k = _inputs(rendered_pair, [0.0] * 6)
    for begin in (truth, *(pose_vec_to_mat(torch.tensor([v], dtype=truth.dtype)) @ truth
                           for v in ([0.6, 0.2, 0.0, 0.0, 0.15, 0.0],
                                     [0.0, 0.0, 0.0, 0.1, -0.2, 0.3]))):
        # Near the truth, far outside the basin, and against an unrelated image alike.
        for other in (nxt, torch.rand(nxt.shape, generator=torch.Generator().manual_seed(0),
                                      dtype=nxt.dtype)):
            refined = refine_motion(begin, prev, other, depth, k,
                                    RefineConfig(iterations=5, grayscale=False))
            assert alignment_cost(refined, prev, other, depth, k) <= alignment_cost(
                begin, prev, other, depth, k)
    away = pose_vec_to_mat(torch.tensor([[0.0, 0.0, 0.0, 0.0, 2.5, 0.0]],
                                        dtype=truth.dtype)) @ truth  # looks backwards
    torch.testing.assert_close(refine_motion(away, prev, nxt, depth, k), away)
    # NaN depth (no estimate) is left out, not propagated.
    holes = depth.clone()
    holes[..., ::3, :] = float('nan')
    out = refine_motion(start, prev, nxt, holes, k, RefineConfig(iterations=5))
    assert torch.isfinite(out).all() and _rotation_error_deg(out, truth) < 0.05
    # Zero iterations return the input; a batch refines each pair on its own.
    torch.testing.assert_close(refine_motion(start, prev, nxt, depth, k,
                                             RefineConfig(iterations=0)), start)
    both = refine_motion(torch.cat([start, away]), prev.repeat(2, 1, 1, 1),
                         nxt.repeat(2, 1, 1, 1), depth.repeat(2, 1, 1, 1), k)
    torch.testing.assert_close(both[1], away[0])


def test_refine_config_rejects_impossible_settings():
    """Negative iterations or prior, Huber or damping <= 0, min_valid outside [0, 1], stride 0."""
    for kwargs in ({'iterations': -1}, {'huber': 0.0}, {'damping': -1.0},
                   {'min_valid': 1.5}, {'stride': 0}, {'translation_prior': -0.1}):
        with pytest.raises(ValueError):
            RefineConfig(**kwargs)


def test_rotation_only_refinement_keeps_the_translation(rendered_pair):
    """With ``rotation_only`` the translation is the one given and the rotation improves."""
    truth, start, prev, nxt, depth, k = _inputs(rendered_pair,
                                                [0.0, 0.0, 0.0, 0.004, 0.026, -0.006])
    out = refine_motion(start, prev, nxt, depth, k,
                        RefineConfig(iterations=5, rotation_only=True))
    # The left perturbation rotates the translation with the rotation: t' = dR t.
    moved = out[0, :3, :3] @ start[0, :3, :3].T @ start[0, :3, 3]
    torch.testing.assert_close(out[0, :3, 3], moved, atol=1e-9, rtol=0)
    assert _rotation_error_deg(out, truth) < 0.5 * _rotation_error_deg(start, truth)


def test_gradient_with_the_translation_prior_matches_autograd(rendered_pair):
    """The normal equations' gradient equals autograd's gradient of the cost, prior included.

    A planar next image (bilinear sampling exact, central differences the true gradient),
    Huber's threshold above every residual (the cost is then a mean of squares), and pixels
    that land near the border left out, so that both sides see the same function.
    """
    _, start, prev, _, depth, k = _inputs(rendered_pair, [0.05, 0.0, 0.02, 0.0, 0.01, 0.0])
    h, w = rendered_pair['height'], rendered_pair['width']
    v, u = torch.meshgrid(torch.arange(h, dtype=prev.dtype), torch.arange(w, dtype=prev.dtype),
                          indexing='ij')
    nxt = (0.002 * u + 0.003 * v - 0.4)[None, None]
    prev = prev.mean(1, keepdim=True)
    _, valid, _, uv = _Pair(prev, nxt, depth, k).residual(start)
    inside = (valid & (uv[..., 0] > 3) & (uv[..., 0] < w - 4) & (uv[..., 1] > 3)
              & (uv[..., 1] < h - 4))
    depth = torch.where(inside.reshape(1, 1, h, w), depth, torch.full_like(depth, float('nan')))
    pair = _Pair(prev, nxt, depth, k)
    config = RefineConfig(huber=10.0, translation_prior=0.5)
    start_t = start[:, :3, 3] + torch.tensor([[0.2, -0.1, 0.3]], dtype=start.dtype)
    residual, valid, q, uv = pair.residual(start)
    _, grad = _normal_equations(pair, residual, valid, q, uv, start, start_t, config)
    delta = torch.zeros(1, 6, dtype=start.dtype, requires_grad=True)
    moved = pose_vec_to_mat(delta) @ start
    residual, valid, _, _ = pair.residual(moved)
    _total_cost(residual, valid, moved, start_t, config).sum().backward()
    torch.testing.assert_close(grad[0, :, 0], delta.grad[0], atol=1e-9, rtol=1e-6)
    # Without the prior the gradient differs by exactly the prior's part.
    _, plain = _normal_equations(pair, residual.detach(), valid, q, uv, start, start_t,
                                 RefineConfig(huber=10.0, translation_prior=0.0))
    assert float((grad - plain)[0, :3].abs().max()) > 0.01


def test_a_strong_translation_prior_keeps_the_translation_and_refines_the_rotation(
        rendered_pair):
    """With a prior far above the image's pull, the translation stays where it started."""
    truth, start, prev, nxt, depth, k = _inputs(rendered_pair,
                                                [0.05, 0.0, -0.03, 0.004, 0.02, -0.005])
    out = refine_motion(start, prev, nxt, depth, k,
                        RefineConfig(iterations=5, translation_prior=1e4))
    assert float((out[0, :3, 3] - start[0, :3, 3]).norm()) < 2e-3
    assert _rotation_error_deg(out, truth) < 0.7 * _rotation_error_deg(start, truth)
    weak = refine_motion(start, prev, nxt, depth, k,
                         RefineConfig(iterations=5, translation_prior=0.0))
    assert float((weak[0, :3, 3] - start[0, :3, 3]).norm()) > 0.03
