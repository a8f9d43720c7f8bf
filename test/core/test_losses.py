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

"""Losses against independent references (scikit-image SSIM, closed forms, a render)."""

from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.geometry import mat_to_pose_vec
from mono_depth_ros.core.losses import edge_aware_smoothness, LOSS_TERMS, ssim, ssim_loss
from mono_depth_ros.core.losses import vid2depth_loss
import numpy as np
import pytest
from skimage.metrics import structural_similarity
import torch


def test_ssim_matches_scikit_image():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 20, 30, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.rand(2, 3, 20, 30, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours = ssim(x, y).numpy()
    for b in range(2):
        for c in range(3):
            _, full = structural_similarity(x[b, c].numpy(), y[b, c].numpy(), win_size=3,
                                            data_range=1.0, gaussian_weights=False,
                                            use_sample_covariance=False, full=True)
            np.testing.assert_allclose(ours[b, c], full[1:-1, 1:-1], atol=1e-10)


def test_ssim_loss_range_and_identity():
    x = torch.rand(1, 3, 10, 10, dtype=torch.float64)
    assert ssim_loss(x, x).abs().max() < 1e-12
    loss = ssim_loss(x, 1 - x)
    assert loss.min() >= 0 and loss.max() <= 1 and loss.mean() > 0.3


def test_gradcheck_ssim():
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: ssim(a, y), (x,))


def test_smoothness_closed_forms():
    h, w = 8, 10
    flat_img = torch.zeros(1, 3, h, w, dtype=torch.float64)
    ramp = torch.arange(w, dtype=torch.float64).expand(1, 1, h, w) * 0.5
    assert edge_aware_smoothness(torch.ones(1, 1, h, w, dtype=torch.float64),
                                 flat_img) == 0
    # uniform image: weights are 1, mean |dx| = 0.5, |dy| = 0
    assert edge_aware_smoothness(ramp, flat_img).item() == pytest.approx(0.5)
    # an image edge of height 1 between every column: weight exp(-1) on x gradients
    stripes = (torch.arange(w, dtype=torch.float64) % 2).expand(1, 3, h, w)
    assert edge_aware_smoothness(ramp, stripes).item() == pytest.approx(0.5 * np.exp(-1))


def _snippet(pair):
    """Build a 2-frame snippet (target, source) with true disparities at 4 scales."""
    images = torch.stack([pair['target_image'], pair['source_image']])[None]
    depth = torch.stack([pair['target_depth'], pair['source_depth']])[None]
    disps = []
    for s in range(4):
        d = torch.nn.functional.interpolate(depth[0], scale_factor=0.5 ** s, mode='area') \
            if s else depth[0]
        disps.append((1.0 / d)[None])
    next_T_prev = pair['source_T_target']  # frame 0 = target, frame 1 = source
    return images, pair['K'][None], disps, mat_to_pose_vec(next_T_prev)[None, None]


def test_loss_terms_and_true_motion_beats_wrong_motion(rendered_pair):
    images, k, disps, ego = _snippet(rendered_pair)
    cfg = LossConfig(icp_association='projective')
    good = vid2depth_loss(images, k, disps, ego, cfg)
    assert set(good) == set(LOSS_TERMS)
    wrong = ego.clone()
    wrong[..., 2] += 0.5
    wrong[..., 4] += 0.03
    bad = vid2depth_loss(images, k, disps, wrong, cfg)
    for term in ('reconstruction', 'ssim', 'icp_transform', 'icp_residual', 'total'):
        assert good[term] < bad[term], term
    # with the true motion ICP has little left to correct (what remains is point-to-point
    # bias between two different samplings of the same surfaces, largest at coarse scales)
    assert bad['icp_transform'] > 3 * good['icp_transform']
    for value in good.values():
        assert torch.isfinite(value)


def test_loss_weights_and_switches(rendered_pair):
    images, k, disps, ego = _snippet(rendered_pair)
    base = LossConfig(icp_weight=0.0)
    terms = vid2depth_loss(images, k, disps, ego, base)
    expect = (0.85 * terms['reconstruction'] + 0.15 * terms['ssim']
              + 0.05 * terms['smoothness'])
    torch.testing.assert_close(terms['total'], expect)
    assert terms['icp_transform'] == 0 and terms['icp_residual'] == 0
    unmasked = vid2depth_loss(images, k, disps, ego, LossConfig(icp_weight=0.0,
                                                                use_masks=False))
    # without masks, pixels that left the view add error
    assert unmasked['reconstruction'] > terms['reconstruction']


def test_loss_gradients_reach_depth_and_motion_with_batch_one(rendered_pair):
    images, k, disps, ego = _snippet(rendered_pair)
    images, k = images.float(), k.float()
    disps = [d.float().clone().requires_grad_() for d in disps]
    ego = ego.float().clone().requires_grad_()
    terms = vid2depth_loss(images, k, disps, ego, LossConfig(icp_association='projective'))
    terms['total'].backward()
    assert ego.grad is not None and torch.isfinite(ego.grad).all() and ego.grad.abs().sum() > 0
    for d in disps:
        assert torch.isfinite(d.grad).all() and d.grad.abs().sum() > 0


def test_loss_rejects_wrong_shapes(rendered_pair):
    images, k, disps, ego = _snippet(rendered_pair)
    with pytest.raises(ValueError, match='egomotion'):
        vid2depth_loss(images, k, disps, ego[:, :, :5])
    with pytest.raises(ValueError, match='disparity scales'):
        vid2depth_loss(images, k, disps[:2], ego)
