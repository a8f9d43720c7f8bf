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

"""Batched point-to-point ICP in torch (CPU and CUDA) and the vid2depth 3D loss.

The paper aligns two point clouds with ICP and uses what is left over as a training signal:
the correction transform ``T'`` that ICP still had to apply and the per-point residuals
``r`` (matched target point minus aligned source point). Their values double as
approximate gradients: the gradient reaching ``T'`` is passed, sign flipped, to the
ego-motion, and the one reaching ``r`` is passed, sign flipped, to the source points.
:class:`ICPGradient` is that rule as a ``torch.autograd.Function``.

Correspondences come from one of two association modes (searched in
:mod:`mono_depth_ros.core.neighbours`):

* ``'nearest'`` (the paper's, and the reference in the tests): the exact Euclidean nearest
  valid target point; the search structure is built once per call and queried every
  iteration (``nearest_method``: scipy's KD-tree on the CPU, chunked brute force with
  bounded memory on CUDA, see :class:`~mono_depth_ros.core.neighbours.NearestIndex`);
* ``'projective'``: the nearest target point among those seen in a small pixel window
  around where the source point projects (needs the target as an organised cloud and its
  intrinsics). ``O(N)`` and much faster; it equals the exact nearest neighbour whenever
  that one lies inside the window, which holds once the clouds are close.

Invalid points (masked, out of view) never take part in a correspondence.

May import: torch and the core modules ``checks``, ``geometry`` and ``neighbours``.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Optional, Tuple

from mono_depth_ros.core.checks import check_shape
from mono_depth_ros.core.geometry import mat_to_pose_vec
from mono_depth_ros.core.neighbours import NearestIndex, projective_neighbors
import torch

__all__ = [
    'ICPGradient',
    'ICPResult',
    'icp',
    'icp_loss',
    'kabsch',
]

ASSOCIATIONS = ('nearest', 'projective')


@dataclass
class ICPResult:
    """What :func:`icp` returns.

    Attributes:
        transform: correction ``T'`` (target_T_source after ICP), shape ``(B, 4, 4)``.
        residual: matched target point minus aligned source point, 0 where unmatched,
            shape ``(B, N, 3)``.
        matched: whether each source point found a correspondence, shape ``(B, N)``.
        rmse: root-mean-square residual over matched points, shape ``(B,)``.

    """

    transform: torch.Tensor
    residual: torch.Tensor
    matched: torch.Tensor
    rmse: torch.Tensor


def kabsch(source: torch.Tensor, target: torch.Tensor,
           weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Closed-form least-squares rigid transform between corresponding points (SVD).

    Minimises ``sum_i w_i |R s_i + t - d_i|^2``. Batches with fewer than three points of
    positive weight get the identity.

    Args:
        source: source points, shape ``(B, N, 3)``.
        target: corresponding target points, shape ``(B, N, 3)``.
        weights: non-negative weights, shape ``(B, N)``; all ones when omitted.

    Returns:
        ``target_T_source``, shape ``(B, 4, 4)``.

    """
    check_shape(source, ('B', 'N', 3), 'source')
    check_shape(target, tuple(source.shape), 'target')
    if weights is None:
        weights = torch.ones(source.shape[:2], dtype=source.dtype, device=source.device)
    check_shape(weights, tuple(source.shape[:2]), 'weights')
    return _kabsch_planar(source.transpose(1, 2), target.transpose(1, 2), weights)


def _kabsch_planar(source: torch.Tensor, target: torch.Tensor,
                   weights: torch.Tensor) -> torch.Tensor:
    """:func:`kabsch` of planar clouds ``(B, 3, N)`` (x, y and z each contiguous).

    The weighted sums are batched products (one pass over the points each) rather than
    centred copies of both clouds: ICP's cost is memory traffic over ``B * N`` points.
    """
    b = source.shape[0]
    w = weights.to(source.dtype)
    total = w.sum(1, keepdim=True)
    safe_total = total.clamp(min=torch.finfo(source.dtype).tiny)
    weighted = source * w[:, None, :]
    src_mean = weighted.sum(2) / safe_total
    dst_mean = torch.bmm(target, w[:, :, None])[..., 0] / safe_total
    # sum_i w_i (s_i - s)(d_i - d)^T = sum_i w_i s_i d_i^T - W s d^T
    cov = (weighted @ target.transpose(1, 2)
           - total[..., None] * src_mean[:, :, None] * dst_mean[:, None, :])  # (B, 3, 3)
    u, _, vh = torch.linalg.svd(cov)
    v = vh.transpose(1, 2)
    det = torch.linalg.det(v @ u.transpose(1, 2))
    fix = torch.ones(b, 3, dtype=source.dtype, device=source.device)
    fix = torch.cat([fix[:, :2], torch.sign(det)[:, None]], dim=1)
    rotation = v @ torch.diag_embed(fix) @ u.transpose(1, 2)
    translation = dst_mean - (rotation @ src_mean[..., None])[..., 0]
    out = torch.eye(4, dtype=source.dtype, device=source.device).repeat(b, 1, 1)
    enough = ((w > 0).sum(1) >= 3)[:, None, None]
    out[:, :3, :3] = torch.where(enough, rotation, out[:, :3, :3])
    out[:, :3, 3] = torch.where(enough[:, :, 0], translation, out[:, :3, 3])
    return out


def icp(source: torch.Tensor, target: torch.Tensor,
        source_valid: Optional[torch.Tensor] = None,
        target_valid: Optional[torch.Tensor] = None,
        iterations: int = 10,
        max_correspondence_distance: Optional[float] = None,
        trim_fraction: float = 1.0,
        association: str = 'nearest',
        intrinsics: Optional[torch.Tensor] = None,
        image_size: Optional[Tuple[int, int]] = None,
        chunk_size: int = 2048, window: int = 5,
        tolerance: Optional[float] = None, nearest_method: str = 'auto') -> ICPResult:
    """Align ``source`` to ``target`` with point-to-point ICP, batched, under ``no_grad``.

    The result is a training signal, not a differentiable function (:class:`ICPGradient`).

    Args:
        source: source points, shape ``(B, N, 3)``.
        target: target points, shape ``(B, M, 3)``; for ``'projective'`` association an
            organised cloud of shape ``(B, H * W, 3)`` in the camera of ``intrinsics``.
        source_valid: which source points take part, shape ``(B, N)``.
        target_valid: which target points may be matched, shape ``(B, M)``.
        iterations: ICP iterations (the paper: 10).
        max_correspondence_distance: pairs farther apart (metres) are rejected; ``None``
            keeps every pair.
        trim_fraction: keep only this fraction of the closest pairs in each iteration
            (trimmed ICP, for partial overlap); 1.0 keeps all.
        association: ``'nearest'`` (exact) or ``'projective'``.
        intrinsics: target camera matrices, shape ``(B, 3, 3)`` (projective only).
        image_size: ``(H, W)`` of the organised target (projective only).
        chunk_size: query block size of the exact nearest-neighbour search.
        window: odd side of the pixel window searched by projective association (1 = the
            projected pixel only; 5 = 25 candidates).
        tolerance: stop early once an iteration's update moves no cloud of the batch by
            more than this (the largest change of ``|step - I|``, rotation entries and
            translation in metres alike); ``None`` runs all ``iterations`` (the paper).
        nearest_method: exact search of ``'nearest'`` association, one of
            :data:`~mono_depth_ros.core.neighbours.NEAREST_METHODS` (``'auto'``: KD-tree on
            the CPU, brute force on CUDA).

    Returns:
        An :class:`ICPResult`.

    """
    _check_icp_arguments(source, target, association, intrinsics, image_size, iterations,
                         trim_fraction)
    with torch.no_grad():
        source, target = source.detach(), target.detach()
        source_valid, target_valid = _valid_masks(source, target, source_valid, target_valid)
        associate = _Association(
            _planar(torch.where(target_valid[..., None], target, torch.zeros_like(target))),
            source_valid, target_valid, association, intrinsics, image_size, chunk_size,
            window, max_correspondence_distance, trim_fraction, nearest_method)
        source = _planar(torch.where(source_valid[..., None], source, torch.zeros_like(source)))
        total, current = _iterate(source, associate, iterations, tolerance)
        matched, found = associate(current)
        residual = torch.where(found[:, None], matched - current,
                               torch.zeros_like(current)).transpose(1, 2)
        count = found.sum(1).clamp(min=1).to(source.dtype)
        rmse = torch.sqrt((residual ** 2).sum((1, 2)) / count)
    return ICPResult(transform=total, residual=residual, matched=found, rmse=rmse)


def _planar(points: torch.Tensor) -> torch.Tensor:
    """``(B, N, 3)`` -> contiguous ``(B, 3, N)``.

    ICP runs on planar clouds: every per-point step reads x, y and z as contiguous rows
    instead of strided columns.
    """
    return points.transpose(1, 2).contiguous()


def _moved(transform: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Planar points ``(B, 3, N)`` moved by ``(B, 4, 4)`` transforms: ``R p + t``."""
    return torch.baddbmm(transform[:, :3, 3:], transform[:, :3, :3], points)


def _iterate(source: torch.Tensor, associate: '_Association', iterations: int,
             tolerance: Optional[float]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Run ICP's iterations on a planar source; return the total transform and moved cloud."""
    eye = torch.eye(4, dtype=source.dtype, device=source.device)
    total = eye.repeat(source.shape[0], 1, 1)
    current = source
    for _ in range(iterations):
        matched, found = associate(current)
        step = _kabsch_planar(current, matched, found)
        total = step @ total
        current = _moved(total, source)
        if tolerance is not None and float((step - eye).abs().amax()) <= tolerance:
            break
    return total, current


def _valid_masks(source: torch.Tensor, target: torch.Tensor,
                 source_valid: Optional[torch.Tensor], target_valid: Optional[torch.Tensor]
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return the given masks (all valid when omitted) and-ed with the points' finiteness."""
    source_ok = torch.isfinite(source).all(-1)
    target_ok = torch.isfinite(target).all(-1)
    if source_valid is not None:
        source_ok = source_ok & source_valid.bool()
    if target_valid is not None:
        target_ok = target_ok & target_valid.bool()
    return source_ok, target_ok


def _check_icp_arguments(source: torch.Tensor, target: torch.Tensor, association: str,
                         intrinsics: Optional[torch.Tensor],
                         image_size: Optional[Tuple[int, int]], iterations: int,
                         trim_fraction: float) -> None:
    check_shape(source, ('B', 'N', 3), 'source')
    check_shape(target, (source.shape[0], 'M', 3), 'target')
    if association not in ASSOCIATIONS:
        raise ValueError(f'association must be one of {ASSOCIATIONS}, got {association!r}')
    if association == 'projective' and (intrinsics is None or image_size is None):
        raise ValueError("association='projective' needs intrinsics and image_size")
    if iterations < 1:
        raise ValueError(f'iterations must be at least 1, got {iterations}')
    if not 0.0 < trim_fraction <= 1.0:
        raise ValueError(f'trim_fraction must be in (0, 1], got {trim_fraction}')


@dataclass
class _Association:
    """Finds, for moved source points, their target matches under ICP's rejection rules."""

    target: torch.Tensor
    source_valid: torch.Tensor
    target_valid: torch.Tensor
    mode: str
    intrinsics: Optional[torch.Tensor]
    image_size: Optional[Tuple[int, int]]
    chunk_size: int
    window: int
    max_distance: Optional[float]
    trim_fraction: float
    nearest_method: str = 'auto'

    def __post_init__(self) -> None:
        """Build the exact search once: the target stays put while the source moves."""
        self.index = (NearestIndex(self.target.transpose(1, 2), self.target_valid,
                                   self.nearest_method, self.chunk_size)
                      if self.mode == 'nearest' else None)

    def __call__(self, points: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Planar points ``(B, 3, N)`` -> ``(matched target points (B, 3, N), found (B, N))``."""
        if self.index is not None:
            index, found = self.index(points.transpose(1, 2).contiguous(), self.source_valid)
        else:  # a one-pixel window transposes back to these planar rows (views only)
            index, found = projective_neighbors(
                points.transpose(1, 2), self.target.transpose(1, 2), self.intrinsics,
                self.image_size, self.source_valid, self.target_valid, self.window)
        matched = torch.gather(self.target, 2, index[:, None].expand(-1, 3, -1))
        if self.max_distance is None and self.trim_fraction >= 1.0:
            return matched, found
        dist = (matched - points).norm(dim=1)
        if self.max_distance is not None:
            found = found & (dist <= self.max_distance)
        if self.trim_fraction < 1.0:
            found = found & _within_trim(dist, found, self.trim_fraction)
        return matched, found


def _within_trim(dist: torch.Tensor, found: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mask of the ``ceil(fraction * count)`` closest found pairs per batch element."""
    masked = torch.where(found, dist, torch.full_like(dist, math.inf))
    ordered, _ = masked.sort(dim=1)
    keep = torch.ceil(found.sum(1).to(dist.dtype) * fraction).long().clamp(min=1)
    threshold = torch.gather(ordered, 1, (keep - 1)[:, None])
    return masked <= threshold


class ICPGradient(torch.autograd.Function):
    """The paper's approximate gradients for the ICP outputs.

    ``forward(egomotion, source, transform_vec, residual)`` returns
    ``(transform_vec, residual)`` unchanged; ``backward`` sends the gradient of
    ``transform_vec`` to ``egomotion`` and the gradient of ``residual`` to ``source``,
    both with the sign flipped. Nothing flows to the target cloud.
    """

    @staticmethod
    def forward(ctx, egomotion: torch.Tensor, source: torch.Tensor,
                transform_vec: torch.Tensor, residual: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return the ICP outputs as new tensors tied to ``egomotion`` and ``source``."""
        if egomotion.shape != transform_vec.shape:
            raise ValueError(f'egomotion {tuple(egomotion.shape)} and transform '
                             f'{tuple(transform_vec.shape)} must have the same shape')
        if source.shape != residual.shape:
            raise ValueError(f'source {tuple(source.shape)} and residual '
                             f'{tuple(residual.shape)} must have the same shape')
        return transform_vec.detach().clone(), residual.detach().clone()

    @staticmethod
    def backward(ctx, grad_transform: torch.Tensor, grad_residual: torch.Tensor):
        """Flip the signs and route the gradients to ego-motion and source points."""
        return -grad_transform, -grad_residual, None, None


def icp_loss(source: torch.Tensor, egomotion: torch.Tensor, target: torch.Tensor,
             source_valid: Optional[torch.Tensor] = None,
             target_valid: Optional[torch.Tensor] = None,
             **icp_kwargs) -> Tuple[torch.Tensor, torch.Tensor, ICPResult]:
    """Compute the 3D loss ``mean|T' - I|`` (a 6-vector) and ``mean|r|`` with ICP's gradients.

    Args:
        source: the source frame's cloud already moved by the predicted ego-motion into the
            target frame, shape ``(B, N, 3)``; receives the residual gradient.
        egomotion: the predicted motion as a pose vector, shape ``(B, 6)``; receives the
            transform gradient.
        target: the target frame's cloud, shape ``(B, M, 3)``; receives no gradient.
        source_valid: which source points take part, shape ``(B, N)``.
        target_valid: which target points may be matched, shape ``(B, M)``.
        **icp_kwargs: passed to :func:`icp`.

    Returns:
        ``(transform_loss, residual_loss, result)``: two scalars and the :class:`ICPResult`.

    """
    check_shape(egomotion, (source.shape[0], 6), 'egomotion')
    result = icp(source, target, source_valid, target_valid, **icp_kwargs)
    transform_vec = mat_to_pose_vec(result.transform)
    transform_out, residual_out = ICPGradient.apply(egomotion, source, transform_vec,
                                                    result.residual)
    return transform_out.abs().mean(), residual_out.abs().mean(), result
