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

"""The vid2depth loss: masked L1, SSIM, edge-aware smoothness and the 3D (ICP) term.

One function, :func:`vid2depth_loss`, returns every term by name; offline training and
online fine-tuning both call it.

Batch format (the only one in the package):

* ``images``: snippets of ``S`` consecutive frames, shape ``(B, S, 3, H, W)``, in ``[0, 1]``;
* ``intrinsics``: camera matrices for ``H x W``, shape ``(B, 3, 3)``;
* ``disparities``: per scale ``s`` (finest first) a tensor ``(B, S, 1, H_s, W_s)``;
* ``egomotion``: ``(B, S - 1, 6)``; entry ``i`` maps camera ``i`` to camera ``i + 1``.

May import: torch, numpy, scipy, safetensors and other ``mono_depth_ros.core`` modules.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from mono_depth_ros.core.camera import depth_to_points, pixel_grid, resize_intrinsics
from mono_depth_ros.core.checks import check_shape
from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.geometry import (inverse_transform, inverse_warp, mat_to_pose_vec,
                                          pose_vec_to_mat, transform_points)
from mono_depth_ros.core.icp import icp_loss
from mono_depth_ros.core.networks import disparity_to_depth
from mono_depth_ros.core.refine import refine_snippets, RefineConfig
import torch
import torch.nn.functional as F

__all__ = ['LOSS_TERMS', 'edge_aware_smoothness', 'snippet_loss', 'ssim', 'ssim_loss',
           'vid2depth_loss']

SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2
#: auto-masking scores a pixel unwarped when that error is below the warped one by this much
AUTO_MASK_MARGIN = 1e-5
LOSS_TERMS = ('reconstruction', 'ssim', 'smoothness', 'icp_transform', 'icp_residual',
              'distillation', 'total')
#: weight of radians against metres in the distillation term
DISTILLATION_ROTATION = 10.0


def _box3(x: torch.Tensor) -> torch.Tensor:
    """3x3 box mean without padding, ``(B, C, H, W) -> (B, C, H - 2, W - 2)``.

    The same values as ``avg_pool2d(x, 3, 1)``, as two separable sums of shifted slices:
    on a CPU several times faster than the pooling kernel, forward and backward.
    """
    rows = x[..., :-2, :] + x[..., 1:-1, :] + x[..., 2:, :]
    return (rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]) / 9.0


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural similarity with 3x3 box-window statistics (no padding).

    Args:
        x: images, shape ``(B, C, H, W)``, values in ``[0, 1]``.
        y: images, same shape.

    Returns:
        The SSIM map, shape ``(B, C, H - 2, W - 2)``.

    """
    check_shape(x, ('B', 'C', 'H', 'W'), 'x')
    check_shape(y, tuple(x.shape), 'y')
    c = x.shape[1]
    stats = _box3(torch.cat([x, y, x * x, y * y, x * y], dim=1))
    mu_x, mu_y = stats[:, :c], stats[:, c:2 * c]
    sigma_x = stats[:, 2 * c:3 * c] - mu_x ** 2
    sigma_y = stats[:, 3 * c:4 * c] - mu_y ** 2
    sigma_xy = stats[:, 4 * c:] - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    denominator = (mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return numerator / denominator


def ssim_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``clip((1 - SSIM) / 2, 0, 1)``, shape ``(B, C, H - 2, W - 2)``."""
    return torch.clamp((1.0 - ssim(x, y)) / 2.0, 0.0, 1.0)


def edge_aware_smoothness(disparity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Mean absolute disparity gradient, damped where the image has edges.

    Args:
        disparity: shape ``(B, 1, H, W)``.
        image: shape ``(B, 3, H, W)``.

    Returns:
        A scalar.

    """
    check_shape(disparity, ('B', 1, 'H', 'W'), 'disparity')
    check_shape(image, (disparity.shape[0], 'C') + tuple(disparity.shape[2:]), 'image')
    disp_dx = disparity[..., :, 1:] - disparity[..., :, :-1]
    disp_dy = disparity[..., 1:, :] - disparity[..., :-1, :]
    weight_x = torch.exp(-(image[..., :, 1:] - image[..., :, :-1]).abs().mean(1, keepdim=True))
    weight_y = torch.exp(-(image[..., 1:, :] - image[..., :-1, :]).abs().mean(1, keepdim=True))
    return (disp_dx * weight_x).abs().mean() + (disp_dy * weight_y).abs().mean()


def _pyramid(images: torch.Tensor, sizes: Sequence[Sequence[int]]) -> List[torch.Tensor]:
    b, s, c, h, w = images.shape
    flat = images.reshape(b * s, c, h, w)
    out = []
    for size in sizes:
        resized = flat if tuple(size) == (h, w) else F.interpolate(flat, size=tuple(size),
                                                                   mode='area')
        out.append(resized.reshape(b, s, c, *size))
    return out


def vid2depth_loss(images: torch.Tensor, intrinsics: torch.Tensor,
                   disparities: Sequence[torch.Tensor], egomotion: torch.Tensor,
                   config: LossConfig = LossConfig()) -> Dict[str, torch.Tensor]:
    """All vid2depth loss terms for one batch (see the module docstring for shapes).

    For every pair of consecutive frames ``(i, i + 1)`` and both directions, each frame is
    reconstructed from its neighbour by inverse warping; the photometric terms compare the
    two inside the validity mask. The 3D term moves frame ``i``'s cloud into camera
    ``i + 1`` with the predicted motion and aligns it to frame ``i + 1``'s cloud by ICP
    (and the reverse). Smoothness and 3D terms at scale ``s`` are weighted by ``1 / 2**s``.

    Returns:
        Scalars named as :data:`LOSS_TERMS`: the unweighted terms summed over scales and
        pairs, and ``total``, their weighted sum.

    """
    check_shape(images, ('B', 'S', 3, 'H', 'W'), 'images')
    b, seq, _, h, w = images.shape
    check_shape(intrinsics, (b, 3, 3), 'intrinsics')
    check_shape(egomotion, (b, seq - 1, 6), 'egomotion')
    if len(disparities) < config.num_scales:
        raise ValueError(f'need {config.num_scales} disparity scales, got {len(disparities)}')
    disparities = list(disparities)[:config.num_scales]
    for s, disp in enumerate(disparities):
        check_shape(disp, (b, seq, 1, 'H', 'W'), f'disparities[{s}]')
    sizes = [tuple(d.shape[-2:]) for d in disparities]
    motions = _Motions(egomotion)
    terms = {name: images.new_zeros(()) for name in LOSS_TERMS[:-1]}
    full = (images, intrinsics) if config.full_resolution else None
    for s, (disp, imgs) in enumerate(zip(disparities, _pyramid(images, sizes))):
        k = resize_intrinsics(intrinsics, (h, w), sizes[s])
        for name, value in _scale_terms(disp, imgs, k, motions, config, full).items():
            weight = 1.0 if name in ('reconstruction', 'ssim') else 1.0 / 2 ** s
            terms[name] = terms[name] + weight * value
    terms['total'] = (config.reconstruction_weight * terms['reconstruction']
                      + config.ssim_weight * terms['ssim']
                      + config.smoothness_weight * terms['smoothness']
                      + config.icp_weight * (terms['icp_transform'] + terms['icp_residual']))
    return terms


class _Motions:
    """``next_T_prev`` motions of a batch and their inverses, computed once per batch."""

    def __init__(self, egomotion: torch.Tensor) -> None:
        self.vectors = egomotion
        self.next_T_prev = pose_vec_to_mat(egomotion)  # (B, S - 1, 4, 4)
        self.prev_T_next = inverse_transform(self.next_T_prev)

    def pairs(self, seq: int, all_pairs: bool = False):
        """Yield ``(tgt, src, src_T_tgt, motion vector or None)``.

        Adjacent frames in both directions (the paper's four pairs for ``S = 3``), or with
        ``all_pairs`` every ordered pair of the snippet; motions across a gap are chained.
        """
        for i in range(seq - 1):
            yield i, i + 1, self.next_T_prev[:, i], self.vectors[:, i]
            yield i + 1, i, self.prev_T_next[:, i], None
        if all_pairs:
            for i in range(seq):
                for j in range(i + 2, seq):
                    j_T_i = self.next_T_prev[:, i]
                    for m in range(i + 1, j):
                        j_T_i = self.next_T_prev[:, m] @ j_T_i
                    yield i, j, j_T_i, None
                    yield j, i, inverse_transform(j_T_i), None


def _photometric(warped: torch.Tensor, target: torch.Tensor, config: LossConfig
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel L1 and SSIM errors, channel means, shapes ``(N, 1, h, w)``.

    The SSIM map loses a one-pixel border (no padding); it is padded back by replication
    so that both maps align pixel for pixel.
    """
    l1 = (warped - target).abs().mean(1, keepdim=True)
    if config.ssim_weight <= 0:
        return l1, torch.zeros_like(l1)
    dssim = F.pad(ssim_loss(warped, target).mean(1, keepdim=True), (1, 1, 1, 1),
                  mode='replicate')
    return l1, dssim


def _photometric_terms(depth: torch.Tensor, imgs: torch.Tensor, k: torch.Tensor,
                       pairs: list, config: LossConfig) -> Tuple[torch.Tensor, torch.Tensor,
                                                                 torch.Tensor]:
    """Reconstruction and SSIM terms of one scale, every pair in one batched warp.

    ``depth`` ``(B, S, 1, h, w)`` and ``imgs`` ``(B, S, 3, h, w)`` are at the resolution the
    photometric error is taken at; ``pairs`` is the list of :meth:`_Motions.pairs`.

    Returns:
        ``(reconstruction, ssim, mask)``: the two terms summed over pairs (or, with
        ``min_reprojection``, over target frames) and the validity mask of every pair
        ``(P * B, 1, h, w)`` for the 3D term.

    """
    b, seq, _, hs, ws = imgs.shape
    n = len(pairs)
    tgt = [p[0] for p in pairs]
    src = [p[1] for p in pairs]
    src_T_tgt = torch.cat([p[2] for p in pairs])  # pair-major: (P * B, 4, 4)
    tgt_depth = depth[:, tgt].transpose(0, 1).reshape(n * b, 1, hs, ws)
    tgt_img = imgs[:, tgt].transpose(0, 1).reshape(n * b, 3, hs, ws)
    src_img = imgs[:, src].transpose(0, 1).reshape(n * b, 3, hs, ws)
    grid = pixel_grid(hs, ws, imgs.dtype, imgs.device)
    warped, mask = inverse_warp(src_img, tgt_depth, src_T_tgt, k.repeat(n, 1, 1), grid)
    if not config.use_masks:
        mask = torch.ones_like(mask)
    l1, dssim = _photometric(warped, tgt_img, config)
    if not (config.min_reprojection or config.auto_mask):
        ssim_mask = mask if config.ssim_weight <= 0 else F.pad(
            _box3(mask), (1, 1, 1, 1), value=0.0)
        # The paper's form: means over the pixels SSIM is defined on (no padded border).
        ssim_pixels = n * b * max(hs - 2, 1) * max(ws - 2, 1)
        return (n * (l1 * mask).mean(), n * (dssim * ssim_mask).sum() / ssim_pixels, mask)
    still = None
    if config.auto_mask:
        with torch.no_grad():
            still = _photometric(src_img, tgt_img, config)
    recon, ssim_term = _selected_terms((l1, dssim), still, mask, tgt, config)
    return recon, ssim_term, mask


def _selected_terms(warped: Tuple[torch.Tensor, torch.Tensor],
                    still: Optional[Tuple[torch.Tensor, torch.Tensor]], mask: torch.Tensor,
                    tgt: List[int], config: LossConfig) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return the reconstruction and SSIM terms under minimum reprojection and/or auto-masking.

    ``warped`` and ``still`` are the per-pixel (L1, SSIM) errors of the warped and of the
    unwarped sources, ``mask`` the validity, all ``(P * B, 1, h, w)``; ``tgt`` names each
    pair's target frame.
    """
    n = len(tgt)
    b, (hs, ws) = mask.shape[0] // n, mask.shape[-2:]
    weights = (config.reconstruction_weight, config.ssim_weight)
    error = weights[0] * warped[0] + weights[1] * warped[1]
    # Invalid pixels never win the minimum; a pixel with no valid source drops out.
    big = torch.finfo(error.dtype).max / 4
    error = torch.where(mask > 0.5, error, torch.full_like(error, big))
    by_pair = error.reshape(n, b, 1, hs, ws)
    l1, dssim = (x.reshape(n, b, 1, hs, ws) for x in warped)
    keep = mask.reshape(n, b, 1, hs, ws)
    if still is not None:
        still_l1, still_ssim = (x.reshape(n, b, 1, hs, ws) for x in still)
        still = weights[0] * still_l1 + weights[1] * still_ssim
    groups = sorted(set(tgt)) if config.min_reprojection else list(range(n))
    recon, ssim_term = l1.new_zeros(()), l1.new_zeros(())
    for g in groups:
        members = [i for i in range(n) if (tgt[i] == g if config.min_reprojection else i == g)]
        best, pick = by_pair[members].min(0, keepdim=True)
        valid = (keep[members].amax(0, keepdim=True) > 0.5).to(l1.dtype)
        pixel_l1 = l1[members].gather(0, pick) * valid
        pixel_ssim = dssim[members].gather(0, pick) * valid
        if still is not None:
            # Where no warp at all is better (by a margin, so that the ties of zero motion
            # keep their gradient), the pixel scores the unwarped error instead: a constant
            # that teaches nothing, but no lower than what the warp would have had to reach,
            # so making warps worse never pays. Pixels with no valid warp stay out.
            still_best, still_pick = still[members].min(0, keepdim=True)
            static = (still_best < best - AUTO_MASK_MARGIN).to(l1.dtype) * valid
            pixel_l1 = ((1 - static) * pixel_l1
                        + static * still_l1[members].gather(0, still_pick))
            pixel_ssim = ((1 - static) * pixel_ssim
                          + static * still_ssim[members].gather(0, still_pick))
        recon = recon + pixel_l1.mean()
        ssim_term = ssim_term + pixel_ssim.mean()
    return recon, ssim_term


def _scale_terms(disp: torch.Tensor, imgs: torch.Tensor, k: torch.Tensor, motions: _Motions,
                 config: LossConfig, full: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
                 ) -> Dict[str, torch.Tensor]:
    """Compute the unweighted terms of one scale.

    ``disp`` is ``(B, S, 1, h, w)``, ``imgs`` ``(B, S, 3, h, w)``, ``k`` ``(B, 3, 3)``. With
    ``full = (images, intrinsics)`` at the input resolution, the disparity is upsampled to
    it for the photometric terms (``config.full_resolution``); smoothness and the 3D term
    stay at the scale's own resolution.
    """
    b, seq, (hs, ws) = disp.shape[0], disp.shape[1], disp.shape[-2:]
    depth = disparity_to_depth(disp)
    zero = imgs.new_zeros(())
    out = {'smoothness': zero}
    for i in range(seq):
        smooth_disp = disp[:, i]
        if config.normalise_smoothness:
            smooth_disp = smooth_disp / smooth_disp.mean((1, 2, 3), keepdim=True)
        out['smoothness'] = out['smoothness'] + edge_aware_smoothness(smooth_disp, imgs[:, i])
    pairs = list(motions.pairs(seq, all_pairs=config.min_reprojection))
    if full is None:
        photo_depth, photo_imgs, photo_k = depth, imgs, k
    else:
        photo_imgs, photo_k = full
        size = photo_imgs.shape[-2:]
        photo_disp = F.interpolate(disp.flatten(0, 1), size=size, mode='bilinear',
                                   align_corners=False) if (hs, ws) != tuple(size) \
            else disp.flatten(0, 1)
        photo_depth = disparity_to_depth(photo_disp).reshape(b, seq, 1, *size)
    out['reconstruction'], out['ssim'], mask = _photometric_terms(
        photo_depth, photo_imgs, photo_k, pairs, config)
    icp_inputs = []
    if config.icp_weight > 0:
        grid = pixel_grid(hs, ws, imgs.dtype, imgs.device)
        clouds = [depth_to_points(depth[:, i], k, grid).flatten(2).transpose(1, 2)
                  for i in range(seq)]
        if full is not None:  # the 3D term needs the mask at this scale's resolution
            _, mask = inverse_warp(imgs[:, 0].repeat(len(pairs), 1, 1, 1),
                                   depth[:, [p[0] for p in pairs]].transpose(0, 1).reshape(
                                       -1, 1, hs, ws), torch.cat([p[2] for p in pairs]),
                                   k.repeat(len(pairs), 1, 1), grid)
        masks = mask.reshape(len(pairs), b, -1)
        # tgt's cloud is moved into camera src and aligned to src's cloud by ICP (adjacent
        # pairs only, as the paper).
        for p, (tgt, src, src_T_tgt, motion_vec) in enumerate(pairs[:2 * (seq - 1)]):
            if motion_vec is None:
                motion_vec = mat_to_pose_vec(src_T_tgt)
            icp_inputs.append((transform_points(src_T_tgt, clouds[tgt]), motion_vec,
                               clouds[src], masks[p] > 0.5))
    out['icp_transform'], out['icp_residual'] = _icp_terms(icp_inputs, k, (hs, ws), config,
                                                           zero)
    return out


def _icp_terms(icp_inputs: list, k: torch.Tensor, size: Tuple[int, int], config: LossConfig,
               zero: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """One batched ICP call for every pair and direction of a scale (sum of per-pair means)."""
    if not icp_inputs:
        return zero, zero
    moved, motion, target, valid = (torch.cat(parts) for parts in zip(*icp_inputs))
    n = len(icp_inputs)
    transform_loss, residual_loss, _ = icp_loss(
        moved, motion, target, source_valid=valid, iterations=config.icp_iterations,
        max_correspondence_distance=config.icp_max_correspondence_distance,
        association=config.icp_association, intrinsics=k.repeat(n, 1, 1), image_size=size,
        chunk_size=config.icp_chunk_size, window=config.icp_window,
        tolerance=config.icp_tolerance)
    return n * transform_loss, n * residual_loss


def snippet_loss(depth_net: torch.nn.Module, egomotion_net: torch.nn.Module,
                 images: torch.Tensor, intrinsics: torch.Tensor,
                 config: LossConfig = LossConfig()) -> Dict[str, torch.Tensor]:
    """Run both networks on snippets ``(B, S, 3, H, W)`` and return :func:`vid2depth_loss`.

    Shared by offline training, loss evaluation and online fine-tuning. With
    ``config.refine_iterations`` the warps use refined motions (see ``LossConfig``). Also
    returned, not loss terms: ``'disparities'`` (per scale), ``'egomotion'`` (the network's)
    and ``'refined'`` (what the warps used), ``(B, S - 1, 6)``.
    """
    check_shape(images, ('B', 'S', 3, 'H', 'W'), 'images')
    b, seq = images.shape[:2]
    disparities = [d.reshape(b, seq, *d.shape[1:]) for d in depth_net(images.flatten(0, 1))]
    egomotion = egomotion_net(images)
    used = egomotion
    if config.refine_iterations:
        refined = refine_snippets(images, disparity_to_depth(disparities[0].detach()),
                                  egomotion, intrinsics,
                                  RefineConfig(iterations=config.refine_iterations,
                                               translation_prior=0.0))
        used = refined + (egomotion - egomotion.detach())
    terms = vid2depth_loss(images, intrinsics, disparities, used, config)
    if config.refine_iterations:
        gap = (egomotion - used.detach()).abs()
        terms['distillation'] = (gap[..., :3].sum(-1)
                                 + DISTILLATION_ROTATION * gap[..., 3:].sum(-1)).mean()
        terms['total'] = terms['total'] + config.distillation_weight * terms['distillation']
    terms['disparities'] = disparities
    terms['egomotion'] = egomotion
    terms['refined'] = used.detach()
    return terms
