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

"""The loss's batched pairs and its later-work options, against closed forms and a loop.

The closed forms use snippets whose frames share one camera (zero motion): every warp is
then the identity, so each option's value can be written down from the images alone.
"""

import math

from mono_depth_ros.core.camera import pixel_grid
from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.geometry import inverse_transform, inverse_warp, mat_to_pose_vec
from mono_depth_ros.core.geometry import pose_vec_to_mat
from mono_depth_ros.core.losses import (DISTILLATION_ROTATION, snippet_loss, ssim_loss,
                                        vid2depth_loss)
import pytest
import torch
import torch.nn.functional as F

PHOTO_ONLY = {'icp_weight': 0.0, 'smoothness_weight': 0.0, 'ssim_weight': 0.0}


def _still_snippet(h=24, w=40, seed=0):
    """Three frames from one camera: frames 0 and 1 equal (X), frame 2 different (Y)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(3, h, w, generator=gen, dtype=torch.float64)
    y = torch.rand(3, h, w, generator=gen, dtype=torch.float64)
    images = torch.stack([x, x, y])[None]
    k = torch.tensor([[30.0, 0, w / 2], [0, 30.0, h / 2], [0, 0, 1]], dtype=torch.float64)[None]
    disps = [torch.full((1, 3, 1, -(-h // 2 ** s), -(-w // 2 ** s)), 0.25, dtype=torch.float64)
             for s in range(4)]
    return images, k, disps, torch.zeros(1, 2, 6, dtype=torch.float64), (x - y).abs().mean()


def test_min_reprojection_closed_form():
    images, k, disps, ego, m = _still_snippet()
    cfg = LossConfig(num_scales=1, **PHOTO_ONLY)
    pairwise = vid2depth_loss(images, k, disps, ego, cfg)
    # the paper's adjacent pairs: (0<-1) 0, (1<-0) 0, (1<-2) m, (2<-1) m
    torch.testing.assert_close(pairwise['reconstruction'], 2 * m)
    best = vid2depth_loss(images, k, disps, ego, LossConfig(num_scales=1,
                                                            min_reprojection=True,
                                                            **PHOTO_ONLY))
    # per target, the better source: frame 0 from 1 (0), 1 from 0 (0), 2 from 0 or 1 (m)
    torch.testing.assert_close(best['reconstruction'], m)


def test_auto_mask_drops_pixels_that_no_warp_explains_better():
    images, k, disps, _, m = _still_snippet()
    images = images[:, :2]  # frames X, X from one camera
    wrong = torch.tensor([[[0.3, 0.0, 0.0, 0.0, 0.02, 0.0]]], dtype=torch.float64)
    disps = [d[:, :2] for d in disps]
    for min_reprojection in (False, True):
        cfg = LossConfig(num_scales=1, auto_mask=True, min_reprojection=min_reprojection,
                         **PHOTO_ONLY)
        # the unwarped source matches exactly; a wrong motion's warp cannot beat it
        assert vid2depth_loss(images, k, disps, wrong, cfg)['reconstruction'] == 0
        plain = vid2depth_loss(images, k, disps, wrong, LossConfig(num_scales=1, **PHOTO_ONLY))
        assert plain['reconstruction'] > 0.05 * m


def test_auto_mask_keeps_ties_so_zero_motion_can_learn():
    images, k, disps, ego, m = _still_snippet()
    # zero motion: warped and unwarped errors tie, every pixel stays (and its gradient)
    cfg = LossConfig(num_scales=1, auto_mask=True, **PHOTO_ONLY)
    torch.testing.assert_close(vid2depth_loss(images, k, disps, ego, cfg)['reconstruction'],
                               2 * m)
    ego = ego.clone().requires_grad_()
    vid2depth_loss(images, k, disps, ego, cfg)['total'].backward()
    assert ego.grad.abs().sum() > 0


def test_auto_mask_keeps_moving_pixels(rendered_pair):
    images, k, disps, ego = _render_snippet(rendered_pair)
    plain = vid2depth_loss(images, k, disps, ego, LossConfig(**PHOTO_ONLY))
    masked = vid2depth_loss(images, k, disps, ego, LossConfig(auto_mask=True, **PHOTO_ONLY))
    # with the true depth and motion nearly every pixel reconstructs better than no warp
    assert 0.5 * plain['reconstruction'] < masked['reconstruction'] <= plain['reconstruction']


def test_full_resolution_closed_form():
    images, k, disps, ego, m = _still_snippet()
    full = vid2depth_loss(images, k, disps, ego, LossConfig(full_resolution=True, **PHOTO_ONLY))
    # every scale's (constant) depth is upsampled; each scale sees the input images: 4 x 2m
    torch.testing.assert_close(full['reconstruction'], 8 * m)
    own = vid2depth_loss(images, k, disps, ego, LossConfig(**PHOTO_ONLY))
    assert own['reconstruction'] < full['reconstruction']  # downsampling averages X - Y


def _reference_terms(images, k, disps, ego):
    """Return the paper's reconstruction and SSIM sums, one warp per pair in a plain loop."""
    b, seq, _, h, w = images.shape
    next_T_prev = pose_vec_to_mat(ego)
    recon, dssim = 0.0, 0.0
    for s, disp in enumerate(disps):
        hs, ws = disp.shape[-2:]
        imgs = images.flatten(0, 1)
        imgs = (imgs if s == 0 else F.interpolate(imgs, size=(hs, ws), mode='area')
                ).reshape(b, seq, 3, hs, ws)
        ks = k.clone()
        ks[:, 0] *= ws / w
        ks[:, 1] *= hs / h
        ks[:, 0, 2] = (k[:, 0, 2] + 0.5) * ws / w - 0.5
        ks[:, 1, 2] = (k[:, 1, 2] + 0.5) * hs / h - 0.5
        grid = pixel_grid(hs, ws, images.dtype)
        for i in range(seq - 1):
            for tgt, src, t in ((i, i + 1, next_T_prev[:, i]),
                                (i + 1, i, inverse_transform(next_T_prev[:, i]))):
                warped, mask = inverse_warp(imgs[:, src], 1 / disp[:, tgt], t, ks, grid)
                recon = recon + ((warped - imgs[:, tgt]).abs() * mask).mean()
                dssim = dssim + (ssim_loss(warped, imgs[:, tgt])
                                 * F.avg_pool2d(mask, 3, 1)).mean()
    return recon, dssim


def test_batched_pairs_match_a_loop_over_pairs():
    gen = torch.Generator().manual_seed(3)
    b, seq, h, w = 2, 3, 24, 40
    images = torch.rand(b, seq, 3, h, w, generator=gen, dtype=torch.float64)
    k = torch.tensor([[30.0, 0, 19.5], [0, 30.0, 11.5], [0, 0, 1]],
                     dtype=torch.float64).expand(b, 3, 3)
    disps = [0.1 + torch.rand(b, seq, 1, -(-h // 2 ** s), -(-w // 2 ** s), generator=gen,
                              dtype=torch.float64) for s in range(4)]
    ego = 0.05 * torch.randn(b, seq - 1, 6, generator=gen, dtype=torch.float64)
    terms = vid2depth_loss(images, k, disps, ego, LossConfig(icp_weight=0.0))
    recon, dssim = _reference_terms(images, k, disps, ego)
    torch.testing.assert_close(terms['reconstruction'], recon, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(terms['ssim'], dssim, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('options', [
    {'min_reprojection': True, 'icp_weight': 0.0},
    {'min_reprojection': True, 'auto_mask': True, 'full_resolution': True, 'icp_weight': 0.1},
])
def test_options_keep_gradients_and_prefer_the_true_motion(rendered_pair, options):
    images, k, disps, ego = (x.float() if torch.is_tensor(x) else [d.float() for d in x]
                             for x in _render_snippet(rendered_pair))
    cfg = LossConfig(icp_association='projective', **options)
    good = vid2depth_loss(images, k, disps, ego, cfg)['total']
    wrong = ego.clone()
    wrong[..., 4] += 0.03
    assert vid2depth_loss(images, k, disps, wrong, cfg)['total'] > good
    ego = ego.clone().requires_grad_()
    disps = [d.clone().requires_grad_() for d in disps]
    vid2depth_loss(images, k, disps, ego, cfg)['total'].backward()
    assert torch.isfinite(ego.grad).all() and ego.grad.abs().sum() > 0
    for d in disps:
        assert torch.isfinite(d.grad).all() and d.grad.abs().sum() > 0


def _render_snippet(pair):
    """2-frame snippet (target, source) of the rendered room with true disparities."""
    images = torch.stack([pair['target_image'], pair['source_image']])[None]
    depth = torch.stack([pair['target_depth'], pair['source_depth']])[None]
    disps = [(1.0 / (F.interpolate(depth[0], scale_factor=0.5 ** s, mode='area')
                     if s else depth[0]))[None] for s in range(4)]
    return (images, pair['K'][None], disps,
            mat_to_pose_vec(pair['source_T_target'])[None, None])


class _FixedDepth(torch.nn.Module):
    """A 'depth network' that returns given disparities times a learnable gain."""

    def __init__(self, disps):
        super().__init__()
        self.disps = [d.flatten(0, 1) for d in disps]
        self.gain = torch.nn.Parameter(torch.ones((), dtype=disps[0].dtype))

    def forward(self, images):
        return [self.gain * d for d in self.disps]


class _FixedMotion(torch.nn.Module):
    """An 'ego-motion network' that returns a given motion plus a learnable offset."""

    def __init__(self, motion):
        super().__init__()
        self.motion = motion
        self.offset = torch.nn.Parameter(torch.zeros_like(motion))

    def forward(self, images):
        return self.motion + self.offset


def test_refinement_in_the_loss_warps_with_the_refined_motion(rendered_pair):
    """Refinement moves a wrong motion to the true one, the warps use it, and both nets learn.

    A 1.1 deg yaw and 6 cm error on the rendered room with its exact depth: the refined
    motion is within 0.05 deg / 1 cm of the truth, the photometric terms equal
    :func:`vid2depth_loss` at the refined motion, ``distillation`` equals its formula, and
    the backward pass reaches the depth (through the warp) and the ego-motion network
    (straight through and through ``distillation``).
    """
    images, k, disps, truth = _render_snippet(rendered_pair)
    wrong = truth + torch.tensor([0.05, 0.0, -0.03, 0.0, 0.02, 0.0], dtype=truth.dtype)
    cfg = LossConfig(icp_weight=0.0, min_reprojection=True, refine_iterations=8)
    depth_net, ego_net = _FixedDepth(disps), _FixedMotion(wrong)
    terms = snippet_loss(depth_net, ego_net, images, k, cfg)
    refined = terms['refined']
    assert float((refined - truth)[..., 3:].abs().max()) < math.radians(0.05)
    assert float((refined - truth)[..., :3].norm()) < 0.01
    assert not refined.requires_grad
    at_refined = vid2depth_loss(images, k, disps, refined, cfg)
    for name in ('reconstruction', 'ssim', 'smoothness'):
        torch.testing.assert_close(terms[name], at_refined[name])
    gap = (wrong - refined).abs()[0, 0]
    expected = float(gap[:3].sum() + DISTILLATION_ROTATION * gap[3:].sum())
    assert float(terms['distillation'].detach()) == pytest.approx(expected, rel=1e-9)
    torch.testing.assert_close(terms['total'], at_refined['total'] + terms['distillation'])
    terms['total'].backward()
    assert float(depth_net.gain.grad.abs()) > 0
    assert torch.isfinite(ego_net.offset.grad).all()
    # The distillation gradient points the network's motion towards the refined one.
    assert float((ego_net.offset.grad * (wrong - refined)).sum()) > 0
    plain = snippet_loss(depth_net, ego_net, images, k,
                         LossConfig(icp_weight=0.0, min_reprojection=True))
    assert float(plain['distillation']) == 0.0
    torch.testing.assert_close(plain['refined'], wrong)
    assert float(plain['reconstruction'].detach()) > 2 * float(terms['reconstruction'].detach())


def test_refinement_options_are_checked():
    with pytest.raises(ValueError, match='refine_iterations'):
        LossConfig(refine_iterations=-1)
    with pytest.raises(ValueError, match='distillation_weight'):
        LossConfig(distillation_weight=-0.5)
