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

Correspondences come from one of two association modes:

* ``'nearest'`` (the paper's, and the reference in the tests): the exact Euclidean nearest
  valid target point, found by brute force in chunks so that memory stays bounded;
* ``'projective'``: the nearest target point among those seen in a small pixel window
  around where the source point projects (needs the target as an organised cloud and its
  intrinsics). ``O(N)`` and much faster; it equals the exact nearest neighbour whenever
  that one lies inside the window, which holds once the clouds are close.

Invalid points (masked, out of view) never take part in a correspondence.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Optional, Tuple

from mono_depth_ros.core._checks import check_shape
from mono_depth_ros.core.geometry import mat_to_pose_vec, transform_points
import torch

__all__ = [
    'ICPGradient',
    'ICPResult',
    'icp',
    'icp_loss',
    'kabsch',
    'nearest_neighbors',
    'projective_neighbors',
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
    b = source.shape[0]
    if weights is None:
        weights = torch.ones(source.shape[:2], dtype=source.dtype, device=source.device)
    check_shape(weights, tuple(source.shape[:2]), 'weights')
    w = weights.to(source.dtype)
    total = w.sum(1, keepdim=True)
    safe_total = total.clamp(min=torch.finfo(source.dtype).tiny)
    src_mean = (w[..., None] * source).sum(1) / safe_total
    dst_mean = (w[..., None] * target).sum(1) / safe_total
    src_c = source - src_mean[:, None]
    dst_c = target - dst_mean[:, None]
    cov = (w[..., None] * src_c).transpose(1, 2) @ dst_c  # (B, 3, 3)
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


def _brute_nearest(query: torch.Tensor, ref: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """Index of the nearest ``ref`` row for each ``query`` row, by chunked brute force."""
    out = torch.empty(query.shape[0], dtype=torch.long, device=query.device)
    for start in range(0, query.shape[0], chunk_size):
        dist = torch.cdist(query[None, start:start + chunk_size], ref[None],
                           compute_mode='donot_use_mm_for_euclid_dist')
        out[start:start + chunk_size] = dist[0].argmin(dim=1)
    return out


_NEIGHBOUR_CELLS = torch.stack(torch.meshgrid(*[torch.arange(-1, 2)] * 3, indexing='ij'),
                               -1).reshape(27, 3)


def _grid_nearest(query: torch.Tensor, ref: torch.Tensor, cell: float,
                  budget: int = 1 << 22) -> Tuple[torch.Tensor, torch.Tensor]:
    """Nearest ``ref`` row among the 27 grid cells around each query, and whether it is exact.

    Space is cut into cubes of side ``cell``. Every point outside the 3x3x3 block of cubes
    around a query is farther than the query's distance to the block's boundary (at least
    ``cell``), so a candidate closer than that bound is the exact nearest neighbour.

    Returns:
        ``(index, exact)``, both of shape ``(N,)``; ``index`` is meaningful where ``exact``.

    """
    dev = query.device
    origin = torch.minimum(query.min(0).values, ref.min(0).values) - cell
    ref_cells = torch.floor((ref - origin) / cell).long()
    q_cells = torch.floor((query - origin) / cell).long()
    dims = torch.maximum(ref_cells.max(0).values, q_cells.max(0).values) + 2
    stride = torch.stack([dims[1] * dims[2], dims[2], torch.ones_like(dims[2])])
    ref_keys = (ref_cells * stride).sum(1)
    sorted_keys, order = ref_keys.sort()
    neigh = _NEIGHBOUR_CELLS.to(dev)
    n = query.shape[0]
    index = torch.zeros(n, dtype=torch.long, device=dev)
    exact = torch.zeros(n, dtype=torch.bool, device=dev)
    # distance from each query to the boundary of its 3x3x3 block
    low = (q_cells - 1).to(query.dtype) * cell + origin
    high = (q_cells + 2).to(query.dtype) * cell + origin
    bound = torch.minimum(query - low, high - query).min(1).values
    keys = ((q_cells[:, None, :] + neigh[None]) * stride).sum(-1)  # (N, 27)
    first = torch.searchsorted(sorted_keys, keys, side='left')
    count = torch.searchsorted(sorted_keys, keys, side='right') - first
    per_query = count.sum(1)
    ends = torch.cumsum(per_query, 0)
    start_q = 0
    while start_q < n:
        offset = ends[start_q - 1] if start_q > 0 else ends.new_zeros(())
        stop_q = int(torch.searchsorted(ends, offset + budget, side='right'))
        stop_q = min(max(stop_q, start_q + 1), n)
        c = count[start_q:stop_q].reshape(-1)
        f = first[start_q:stop_q].reshape(-1)
        owner = torch.arange(start_q, stop_q, device=dev).repeat_interleave(27)
        total = int(c.sum())
        if total:
            owner_rep = owner.repeat_interleave(c)
            seg_start = torch.cumsum(c, 0) - c
            pos = (torch.arange(total, device=dev) - seg_start.repeat_interleave(c)
                   + f.repeat_interleave(c))
            cand = order[pos]
            dist = ((query[owner_rep] - ref[cand]) ** 2).sum(1)
            best = torch.full((n,), float('inf'), dtype=dist.dtype, device=dev)
            best.scatter_reduce_(0, owner_rep, dist, reduce='amin')
            is_best = dist == best[owner_rep]
            pick = torch.full((n,), ref.shape[0], dtype=torch.long, device=dev)
            pick.scatter_reduce_(0, owner_rep[is_best], cand[is_best], reduce='amin')
            rows = slice(start_q, stop_q)
            ok = torch.isfinite(best[rows]) & (best[rows].sqrt() <= bound[rows])
            index[rows] = torch.where(ok, pick[rows], index[rows])
            exact[rows] = ok
        start_q = stop_q
    return index, exact


def nearest_neighbors(query: torch.Tensor, reference: torch.Tensor,
                      query_valid: Optional[torch.Tensor] = None,
                      reference_valid: Optional[torch.Tensor] = None,
                      chunk_size: int = 2048, method: str = 'grid'
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest valid reference point for each query point.

    ``method='grid'`` (default) hashes the reference points into a uniform grid and looks
    in the 27 cells around each query, accepting the best candidate only where it is
    provably the nearest (closer than the query's distance to the searched block); the
    cell size starts at twice the median nearest-neighbour distance of a sample and grows
    fourfold for the queries left over, and the last few go to brute force. The result is
    exact either way. ``method='brute'`` compares every pair, ``chunk_size`` query points
    at a time (peak memory ``chunk_size * M`` distances). Distances are computed from
    coordinate differences, never by the ``|a|^2 - 2ab + |b|^2`` expansion.

    Args:
        query: query points, shape ``(B, N, 3)``.
        reference: reference points, shape ``(B, M, 3)``.
        query_valid: which query points to match, shape ``(B, N)`` (all when omitted).
        reference_valid: which reference points may be matched, shape ``(B, M)``.
        chunk_size: query points per brute-force distance block.
        method: ``'grid'`` or ``'brute'``.

    Returns:
        ``(index, found)``: index into ``reference`` of the nearest valid point, shape
        ``(B, N)`` (0 where nothing was found), and whether one was found, shape ``(B, N)``.

    """
    check_shape(query, ('B', 'N', 3), 'query')
    check_shape(reference, (query.shape[0], 'M', 3), 'reference')
    b, n, _ = query.shape
    m = reference.shape[1]
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be positive, got {chunk_size}')
    if method not in ('grid', 'brute'):
        raise ValueError(f"method must be 'grid' or 'brute', got {method!r}")
    dev = query.device
    if query_valid is None:
        query_valid = torch.ones(b, n, dtype=torch.bool, device=dev)
    if reference_valid is None:
        reference_valid = torch.ones(b, m, dtype=torch.bool, device=dev)
    index = torch.zeros(b, n, dtype=torch.long, device=dev)
    found = torch.zeros(b, n, dtype=torch.bool, device=dev)
    for i in range(b):
        ref_idx = torch.nonzero(reference_valid[i], as_tuple=True)[0]
        q_idx = torch.nonzero(query_valid[i], as_tuple=True)[0]
        if ref_idx.numel() == 0 or q_idx.numel() == 0:
            continue
        ref = reference[i, ref_idx]
        q = query[i, q_idx]
        local = torch.zeros(q_idx.numel(), dtype=torch.long, device=dev)
        todo = torch.arange(q_idx.numel(), device=dev)
        if method == 'grid' and ref.shape[0] > 64:
            sample = todo[torch.linspace(0, todo.numel() - 1, min(256, todo.numel()),
                                         device=dev).long()]
            near = _brute_nearest(q[sample], ref, chunk_size)
            spacing = (q[sample] - ref[near]).norm(dim=1).median()
            extent = float((ref.max(0).values - ref.min(0).values).max())
            cell = max(2.0 * float(spacing), extent * 1e-4, 1e-9)
            for _ in range(4):
                if todo.numel() == 0 or cell > extent:
                    break
                got, exact = _grid_nearest(q[todo], ref, cell)
                local[todo[exact]] = got[exact]
                todo = todo[~exact]
                cell *= 4.0
        if todo.numel():
            local[todo] = _brute_nearest(q[todo], ref, chunk_size)
        index[i, q_idx] = ref_idx[local]
        found[i, q_idx] = True
    return index, found


def projective_neighbors(query: torch.Tensor, reference: torch.Tensor,
                         intrinsics: torch.Tensor, image_size: Tuple[int, int],
                         query_valid: Optional[torch.Tensor] = None,
                         reference_valid: Optional[torch.Tensor] = None,
                         window: int = 5) -> Tuple[torch.Tensor, torch.Tensor]:
    """Projective association: the nearest reference point near each query's pixel.

    Each query point is projected into the reference image; the Euclidean-nearest valid
    reference point within a ``window x window`` pixel neighbourhood of that pixel is its
    match. Cost ``O(N * window**2)`` instead of ``O(N * M)``.

    Args:
        query: query points in the reference camera's frame, shape ``(B, N, 3)``.
        reference: organised reference cloud, row-major over the image, shape
            ``(B, H * W, 3)``.
        intrinsics: the reference camera's matrices, shape ``(B, 3, 3)``.
        image_size: ``(H, W)`` of the organised reference cloud.
        query_valid: which query points to match, shape ``(B, N)``.
        reference_valid: which reference points may be matched, shape ``(B, H * W)``.
        window: odd side length of the pixel search window.

    Returns:
        ``(index, found)`` as in :func:`nearest_neighbors`.

    """
    h, w = image_size
    check_shape(query, ('B', 'N', 3), 'query')
    check_shape(reference, (query.shape[0], h * w, 3), 'reference')
    check_shape(intrinsics, (query.shape[0], 3, 3), 'intrinsics')
    if window < 1 or window % 2 == 0:
        raise ValueError(f'window must be a positive odd number, got {window}')
    if reference_valid is None:
        reference_valid = torch.ones(reference.shape[:2], dtype=torch.bool,
                                     device=reference.device)
    image = query @ intrinsics.transpose(1, 2)
    z = image[..., 2]
    safe_z = z.clamp(min=1e-3)
    u = torch.round(image[..., 0] / safe_z)
    v = torch.round(image[..., 1] / safe_z)
    usable = (z > 1e-3) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    if query_valid is not None:
        usable = usable & query_valid
    u = torch.where(usable, u, torch.zeros_like(u)).long()
    v = torch.where(usable, v, torch.zeros_like(v)).long()
    r = window // 2
    offsets = torch.arange(-r, r + 1, device=query.device)
    cu = (u[..., None, None] + offsets[None, None, None, :]).expand(-1, -1, window, window)
    cv = (v[..., None, None] + offsets[None, None, :, None]).expand(-1, -1, window, window)
    inside = (cu >= 0) & (cu <= w - 1) & (cv >= 0) & (cv <= h - 1)
    cand = torch.where(inside, cv * w + cu, torch.zeros_like(cu)).flatten(2)  # (B, N, K)
    inside = inside.flatten(2)
    b, n, kk = cand.shape
    flat = cand.reshape(b, n * kk)
    ok = (usable[..., None] & inside
          & torch.gather(reference_valid, 1, flat).reshape(b, n, kk))
    pts = torch.gather(reference, 1, flat[..., None].expand(-1, -1, 3)).reshape(b, n, kk, 3)
    dist = ((pts - query[:, :, None]) ** 2).sum(-1)
    dist = torch.where(ok, dist, torch.full_like(dist, float('inf')))
    best, arg = dist.min(dim=2)
    index = torch.gather(cand, 2, arg[..., None])[..., 0]
    found = torch.isfinite(best)
    return torch.where(found, index, torch.zeros_like(index)), found


def icp(source: torch.Tensor, target: torch.Tensor,
        source_valid: Optional[torch.Tensor] = None,
        target_valid: Optional[torch.Tensor] = None,
        iterations: int = 10,
        max_correspondence_distance: Optional[float] = None,
        trim_fraction: float = 1.0,
        association: str = 'nearest',
        intrinsics: Optional[torch.Tensor] = None,
        image_size: Optional[Tuple[int, int]] = None,
        chunk_size: int = 2048, window: int = 5) -> ICPResult:
    """Align ``source`` to ``target`` with point-to-point ICP, batched.

    Runs under ``torch.no_grad``: the result is a training signal, not a differentiable
    function (see :class:`ICPGradient`).

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

    Returns:
        An :class:`ICPResult`.

    """
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
    b, n, _ = source.shape
    with torch.no_grad():
        source = source.detach()
        target = target.detach()
        if source_valid is None:
            source_valid = torch.ones(b, n, dtype=torch.bool, device=source.device)
        source_valid = source_valid.bool() & torch.isfinite(source).all(-1)
        finite_target = torch.isfinite(target).all(-1)
        target_valid = finite_target if target_valid is None else (
            target_valid.bool() & finite_target)
        target_safe = torch.where(target_valid[..., None], target, torch.zeros_like(target))

        def associate(points: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            if association == 'nearest':
                index, found = nearest_neighbors(points, target_safe, source_valid,
                                                 target_valid, chunk_size)
            else:
                index, found = projective_neighbors(points, target_safe, intrinsics,
                                                    image_size, source_valid, target_valid,
                                                    window)
            matched = torch.gather(target_safe, 1, index[..., None].expand(-1, -1, 3))
            dist = (matched - points).norm(dim=-1)
            if max_correspondence_distance is not None:
                found = found & (dist <= max_correspondence_distance)
            if trim_fraction < 1.0:
                found = found & _within_trim(dist, found, trim_fraction)
            return matched, found

        total = torch.eye(4, dtype=source.dtype, device=source.device).repeat(b, 1, 1)
        current = torch.where(source_valid[..., None], source, torch.zeros_like(source))
        for _ in range(iterations):
            matched, found = associate(current)
            step = kabsch(current, matched, found.to(source.dtype))
            total = step @ total
            current = transform_points(total, torch.where(source_valid[..., None], source,
                                                          torch.zeros_like(source)))
        matched, found = associate(current)
        residual = torch.where(found[..., None], matched - current,
                               torch.zeros_like(current))
        count = found.sum(1).clamp(min=1).to(source.dtype)
        rmse = torch.sqrt((residual ** 2).sum((1, 2)) / count)
    return ICPResult(transform=total, residual=residual, matched=found, rmse=rmse)


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
