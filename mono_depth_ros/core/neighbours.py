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

"""Correspondence search for ICP: exact nearest neighbours and projective association.

* :class:`NearestIndex`: the exact Euclidean nearest valid reference point, from a search
  structure built once per reference cloud and queried every ICP iteration: a KD-tree on
  the CPU (pykdtree, or scipy's ``cKDTree`` where pykdtree is missing; the association
  carries no gradient, so it may leave torch), chunked brute force on CUDA (bounded
  memory);
* :func:`nearest_neighbors`: the same as one call, with the method to choose (``'kdtree'``,
  ``'brute'``, or ``'grid'``: a uniform grid with a provable acceptance test, kept as the
  pure-torch exact search measured against the others in ``benchmarks/bench_icp.py``);
* :func:`projective_neighbors`: the nearest reference point among those seen in a small
  pixel window around where the query projects (an organised reference cloud).

Neither carries a gradient: ICP runs under ``torch.no_grad``.

May import: torch, numpy, scipy or pykdtree and :mod:`mono_depth_ros.core.checks`.
"""

from __future__ import annotations

from typing import Optional, Tuple

from mono_depth_ros.core.checks import check_shape
import numpy as np
import torch

__all__ = ['NEAREST_METHODS', 'NearestIndex', 'PARALLEL_QUERY', 'nearest_neighbors',
           'projected_pixels', 'projective_neighbors']

#: exact nearest-neighbour searches; ``'auto'`` is ``'kdtree'`` on the CPU, ``'brute'`` on CUDA
NEAREST_METHODS = ('auto', 'kdtree', 'brute', 'grid')

#: queries with at least this many points use several KD-tree threads (measured here: one
#: thread is faster for 1920 points, two are faster from about 8000)
PARALLEL_QUERY = 8192


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


class NearestIndex:
    """Exact nearest valid reference point, for many queries against fixed references.

    Built once per batch of reference clouds (ICP's target does not move); each call
    answers one batch of queries. ``method`` is one of :data:`NEAREST_METHODS`.

    Args:
        reference: reference points, shape ``(B, M, 3)``.
        reference_valid: which may be matched, shape ``(B, M)`` (all when omitted).
        method: ``'auto'``, ``'kdtree'`` (scipy cKDTree, CPU tensors), ``'brute'`` or
            ``'grid'``.
        chunk_size: query points per brute-force distance block (peak memory
            ``chunk_size * M`` distances).
        workers: threads of a KD-tree query (None: torch's intra-op thread count for
            queries of at least :data:`PARALLEL_QUERY` points, one thread for smaller ones,
            where starting threads costs more than it saves and torch's own idle threads
            compete with them; -1: all cores).

    """

    def __init__(self, reference: torch.Tensor, reference_valid: Optional[torch.Tensor] = None,
                 method: str = 'auto', chunk_size: int = 2048,
                 workers: Optional[int] = None) -> None:
        """Build the per-cloud search structures."""
        check_shape(reference, ('B', 'M', 3), 'reference')
        if method not in NEAREST_METHODS:
            raise ValueError(f'method must be one of {NEAREST_METHODS}, got {method!r}')
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be positive, got {chunk_size}')
        if method == 'auto':
            method = 'kdtree' if reference.device.type == 'cpu' else 'brute'
        if method == 'kdtree' and reference.device.type != 'cpu':
            raise ValueError("method 'kdtree' needs CPU tensors (scipy); use 'brute' on CUDA")
        self.method, self.chunk_size = method, chunk_size
        self.workers = torch.get_num_threads() if workers is None else workers
        self.explicit_workers = workers is not None
        self.reference = reference
        if reference_valid is None:
            reference_valid = torch.ones(reference.shape[:2], dtype=torch.bool,
                                         device=reference.device)
        self.ref_idx = [torch.nonzero(v, as_tuple=True)[0] for v in reference_valid]
        self.trees = None
        if method == 'kdtree':
            self.trees = [_kdtree(reference[i, idx].double().numpy()) if idx.numel() else None
                          for i, idx in enumerate(self.ref_idx)]

    def __call__(self, query: torch.Tensor, query_valid: Optional[torch.Tensor] = None
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return ``(index (B, N), found (B, N))`` as :func:`nearest_neighbors` does."""
        check_shape(query, (self.reference.shape[0], 'N', 3), 'query')
        b, n, _ = query.shape
        dev = query.device
        if query_valid is None:
            query_valid = torch.ones(b, n, dtype=torch.bool, device=dev)
        index = torch.zeros(b, n, dtype=torch.long, device=dev)
        found = torch.zeros(b, n, dtype=torch.bool, device=dev)
        for i in range(b):
            ref_idx = self.ref_idx[i]
            q_idx = torch.nonzero(query_valid[i], as_tuple=True)[0]
            if ref_idx.numel() == 0 or q_idx.numel() == 0:
                continue
            if self.trees is not None:
                workers = self.workers if (q_idx.numel() >= PARALLEL_QUERY
                                           or self.explicit_workers) else 1
                local = self.trees[i](query[i, q_idx].double().numpy(), workers)
            else:
                local = _nearest_in_cloud(query[i, q_idx], self.reference[i, ref_idx],
                                          self.chunk_size, self.method)
            index[i, q_idx] = ref_idx[local]
            found[i, q_idx] = True
        return index, found


def _kdtree(points):
    """Return a KD-tree query ``f(query (N, 3) float64, workers) -> index`` over ``points``.

    pykdtree where it is installed (about twice scipy's speed for these 3-D clouds on
    one thread, the same neighbours; its OpenMP threads follow ``OMP_NUM_THREADS``),
    scipy's cKDTree otherwise (``workers`` threads).
    """
    try:
        from pykdtree.kdtree import KDTree
    except ImportError:
        from scipy.spatial import cKDTree

        tree = cKDTree(points)
        return lambda q, workers: torch.from_numpy(tree.query(q, k=1, workers=workers)[1])
    tree = KDTree(points)
    return lambda q, workers: torch.from_numpy(tree.query(q, k=1)[1].astype(np.int64))


def nearest_neighbors(query: torch.Tensor, reference: torch.Tensor,
                      query_valid: Optional[torch.Tensor] = None,
                      reference_valid: Optional[torch.Tensor] = None,
                      chunk_size: int = 2048, method: str = 'grid'
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest valid reference point for each query point.

    ``method='kdtree'`` or ``'auto'`` searches scipy KD-trees (:class:`NearestIndex`, which
    ICP builds once and reuses). ``method='grid'`` (the default here) hashes the reference
    points into a uniform grid and looks in the 27 cells around each query, accepting the
    best candidate only where it is
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
        method: one of :data:`NEAREST_METHODS`.

    Returns:
        ``(index, found)``: index into ``reference`` of the nearest valid point, shape
        ``(B, N)`` (0 where nothing was found), and whether one was found, shape ``(B, N)``.

    """
    check_shape(query, ('B', 'N', 3), 'query')
    check_shape(reference, (query.shape[0], 'M', 3), 'reference')
    return NearestIndex(reference, reference_valid, method, chunk_size)(query, query_valid)


def _nearest_in_cloud(q: torch.Tensor, ref: torch.Tensor, chunk_size: int,
                      method: str) -> torch.Tensor:
    """Index into ``ref`` ``(M, 3)`` of the nearest point for each row of ``q`` ``(N, 3)``."""
    dev = q.device
    local = torch.zeros(q.shape[0], dtype=torch.long, device=dev)
    todo = torch.arange(q.shape[0], device=dev)
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
    return local


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
    if window == 1:  # the projected pixel is the only candidate: no distances to compare
        return projected_pixels(query.transpose(1, 2), intrinsics, image_size, query_valid,
                                reference_valid)
    u, v, usable = _projected_uv(query.transpose(1, 2), intrinsics, image_size, query_valid)
    u = torch.where(usable, u, torch.zeros_like(u)).long()
    v = torch.where(usable, v, torch.zeros_like(v)).long()
    cand, inside = _window_candidates(u, v, image_size, window)  # (B, N, K) each
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


def projected_pixels(points: torch.Tensor, intrinsics: torch.Tensor,
                     image_size: Tuple[int, int], query_valid: Optional[torch.Tensor],
                     reference_valid: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`projective_neighbors` with ``window=1`` on planar points ``(B, 3, N)``.

    The pixel each point projects to is its only candidate, so no distances are compared;
    x, y and z are contiguous rows (ICP keeps its clouds planar). Returns ``(index, found)``.
    """
    u, v, usable = _projected_uv(points, intrinsics, image_size, query_valid)
    index = torch.where(usable, v * image_size[1] + u, torch.zeros_like(u)).long()
    found = usable & torch.gather(reference_valid, 1, index)
    return torch.where(found, index, torch.zeros_like(index)), found


def _projected_uv(points: torch.Tensor, intrinsics: torch.Tensor,
                  image_size: Tuple[int, int], query_valid: Optional[torch.Tensor]
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the rounded pixel ``(u, v)`` (float) of planar points and which are usable.

    Points are ``(B, 3, N)``; usable: in front of the camera, inside the image and (if
    given) valid queries.
    """
    h, w = image_size
    x, y, z = torch.bmm(intrinsics, points).unbind(1)
    safe_z = z.clamp(min=1e-3)
    u = torch.round(x / safe_z)
    v = torch.round(y / safe_z)
    usable = (z > 1e-3) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    if query_valid is not None:
        usable = usable & query_valid
    return u, v, usable


def _window_candidates(u: torch.Tensor, v: torch.Tensor, image_size: Tuple[int, int],
                       window: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel indices ``(B, N, window**2)`` around ``(u, v)`` and which are inside."""
    h, w = image_size
    r = window // 2
    offsets = torch.arange(-r, r + 1, device=u.device)
    cu = (u[..., None, None] + offsets[None, None, None, :]).expand(-1, -1, window, window)
    cv = (v[..., None, None] + offsets[None, None, :, None]).expand(-1, -1, window, window)
    inside = (cu >= 0) & (cu <= w - 1) & (cv >= 0) & (cv <= h - 1)
    cand = torch.where(inside, cv * w + cu, torch.zeros_like(cu)).flatten(2)
    return cand, inside.flatten(2)
