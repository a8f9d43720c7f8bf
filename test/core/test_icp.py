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

"""ICP against closed-form Kabsch and a scipy-cKDTree ICP (benchmarks.references), 3D loss."""

import math

from benchmarks.references import reference_icp
from conftest import rigid
from mono_depth_ros.core import icp as icp_module
from mono_depth_ros.core.camera import depth_to_points
from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.geometry import (inverse_transform, mat_to_pose_vec, pose_vec_to_mat,
                                          transform_points)
from mono_depth_ros.core.icp import icp, icp_loss, ICPGradient, kabsch
from mono_depth_ros.core.neighbours import nearest_neighbors, projective_neighbors
import numpy as np
import pytest
from scipy.spatial import cKDTree
import torch


def _cloud(organised_cloud):
    depth, k = organised_cloud
    return depth_to_points(depth[None], k[None]).flatten(2).transpose(1, 2)  # (1, N, 3)


def _angle_deg(rot):
    """Rotation angle from |R - I|_F = 2 sqrt(2) sin(angle / 2) (precise near zero)."""
    eye = torch.eye(3, dtype=rot.dtype)
    half = ((rot - eye).flatten(-2).norm(dim=-1) / (2 * math.sqrt(2))).clamp(max=1)
    return torch.rad2deg(2 * torch.asin(half))


def test_kabsch_recovers_exact_transform_and_matches_numpy_svd():
    g = torch.Generator().manual_seed(0)
    src = torch.randn(3, 200, 3, generator=g, dtype=torch.float64) * 4
    truth = pose_vec_to_mat(torch.cat([torch.randn(3, 3, generator=g, dtype=torch.float64),
                                       torch.rand(3, 3, generator=g,
                                                  dtype=torch.float64) - 0.5], 1))
    dst = transform_points(truth, src)
    torch.testing.assert_close(kabsch(src, dst), truth, atol=1e-10, rtol=0)
    noisy = dst + 0.05 * torch.randn(dst.shape, generator=g, dtype=torch.float64)
    ours = kabsch(src, noisy)
    for b in range(3):
        s, d = src[b].numpy(), noisy[b].numpy()
        sc, dc = s.mean(0), d.mean(0)
        u, _, vt = np.linalg.svd((s - sc).T @ (d - dc))
        r = vt.T @ np.diag([1, 1, np.sign(np.linalg.det(vt.T @ u.T))]) @ u.T
        np.testing.assert_allclose(ours[b, :3, :3].numpy(), r, atol=1e-10)
        np.testing.assert_allclose(ours[b, :3, 3].numpy(), dc - r @ sc, atol=1e-10)


def test_kabsch_weights_ignore_zero_weight_points_and_degenerate_gives_identity():
    g = torch.Generator().manual_seed(1)
    src = torch.randn(1, 50, 3, generator=g, dtype=torch.float64)
    truth = pose_vec_to_mat(torch.tensor([[0.3, -0.2, 0.5, 0.1, 0.05, -0.2]],
                                         dtype=torch.float64))
    dst = transform_points(truth, src)
    dst[:, 40:] += 100.0  # outliers with zero weight
    w = torch.ones(1, 50, dtype=torch.float64)
    w[:, 40:] = 0
    torch.testing.assert_close(kabsch(src, dst, w), truth, atol=1e-10, rtol=0)
    w[:, 2:] = 0
    torch.testing.assert_close(kabsch(src, dst, w), torch.eye(4, dtype=torch.float64)[None])


def test_gradcheck_kabsch():
    g = torch.Generator().manual_seed(2)
    src = torch.randn(1, 12, 3, generator=g, dtype=torch.float64).requires_grad_()
    dst = (src.detach() @ torch.tensor([[0.9, -0.1, 0.2], [0.15, 0.95, 0.0], [-0.2, 0.1, 0.9]],
                                       dtype=torch.float64) + 0.3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: kabsch(a, b), (src, dst))


@pytest.mark.parametrize('method', ['grid', 'brute'])
def test_nearest_neighbors_matches_ckdtree_and_respects_masks(method):
    g = torch.Generator().manual_seed(3)
    query = torch.randn(2, 500, 3, generator=g) * 5 + torch.tensor([0.0, 0.0, 20.0])
    ref = torch.randn(2, 700, 3, generator=g) * 5 + torch.tensor([0.0, 0.0, 20.0])
    ref_valid = torch.rand(2, 700, generator=g) > 0.3
    q_valid = torch.rand(2, 500, generator=g) > 0.2
    idx, found = nearest_neighbors(query, ref, q_valid, ref_valid, chunk_size=97,
                                   method=method)
    assert torch.equal(found, q_valid)
    for b in range(2):
        valid_idx = np.nonzero(ref_valid[b].numpy())[0]
        _, j = cKDTree(ref[b, ref_valid[b]].numpy()).query(query[b].numpy())
        expect = valid_idx[j]
        got = idx[b].numpy()
        assert np.array_equal(got[q_valid[b].numpy()], expect[q_valid[b].numpy()])
        assert ref_valid[b, idx[b][found[b]]].all()


@pytest.mark.parametrize('shift', [0.0, 0.05, 0.8])
def test_grid_search_is_exact_on_depth_clouds(organised_cloud, shift):
    # Depth clouds have density varying with distance by orders of magnitude: the grid's
    # coarser levels and the brute-force rest must still return the exact neighbour.
    depth, k = organised_cloud
    target = _cloud(organised_cloud).float()
    query = transform_points(pose_vec_to_mat(torch.tensor([[0.1, 0.0, shift, 0.0, 0.02,
                                                            0.0]])), target)
    g = torch.Generator().manual_seed(7)
    outliers = torch.randn(1, 40, 3, generator=g) * 30  # far, isolated queries
    query = torch.cat([query, outliers], 1)
    idx, found = nearest_neighbors(query, target, method='grid')
    dist_ref, _ = cKDTree(target[0].double().numpy()).query(query[0].double().numpy())
    dist = (query[0] - target[0, idx[0]]).double().norm(dim=1).numpy()
    assert found.all()
    np.testing.assert_allclose(dist, dist_ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize('rot_deg,trans,noise,overlap', [
    (10.0, 1.0, 0.0, 1.0),
    (10.0, 0.3, 0.01, 1.0),
    (5.0, 1.0, 0.02, 1.0),
    (7.0, 0.5, 0.01, 0.7),
])
def test_icp_recovers_rigid_transforms(organised_cloud, rot_deg, trans, noise, overlap):
    target = _cloud(organised_cloud)
    truth = pose_vec_to_mat(rigid(rot_deg, trans))  # target_T_source
    g = torch.Generator().manual_seed(4)
    source = transform_points(inverse_transform(truth), target)
    source = source + noise * torch.randn(source.shape, generator=g, dtype=torch.float64)
    # partial overlap: the source sees the left part of the view, the target the right
    # part; they share ``overlap`` of the columns.
    width = organised_cloud[0].shape[-1]
    cols = torch.arange(source.shape[1])[None] % width
    src_keep = cols < width * (1 + overlap) / 2
    tgt_keep = cols >= width * (1 - overlap) / 2
    # trimmed ICP: keep the closest 80 % of pairs (the true overlap of the source is ~82 %)
    trim = 0.8 if overlap < 1 else 1.0
    result = icp(source, target, src_keep, tgt_keep, iterations=40, trim_fraction=trim)
    err = result.transform @ inverse_transform(truth)
    tol_rot, tol_t = (0.05, 0.005) if noise == 0 else (0.3, 0.03)
    assert _angle_deg(err[:, :3, :3]).item() < tol_rot
    assert err[0, :3, 3].norm().item() < tol_t
    # the same algorithm written with scipy's KD-tree lands in the same place
    ref = reference_icp(source[0, src_keep[0]].numpy(), target[0, tgt_keep[0]].numpy(), 40,
                        trim=trim)
    np.testing.assert_allclose(result.transform[0].numpy(), ref, atol=1e-6)


def test_icp_is_batched_and_float32_works(organised_cloud):
    target = _cloud(organised_cloud)
    vecs = torch.cat([rigid(8.0, 0.6), rigid(3.0, 0.2, axis=(0, 1, 0)), rigid(0.0, 0.0)])
    truth = pose_vec_to_mat(vecs)
    source = transform_points(inverse_transform(truth), target.expand(3, -1, -1))
    result = icp(source.float(), target.expand(3, -1, -1).float(), iterations=40)
    err = result.transform.double() @ inverse_transform(truth)
    assert (_angle_deg(err[:, :3, :3]) < 0.05).all()
    assert (err[:, :3, 3].norm(dim=-1) < 0.01).all()
    assert result.residual.shape == source.shape
    assert (result.rmse < 0.01).all()


def test_tolerance_stops_early_at_the_same_answer(organised_cloud):
    depth, k = organised_cloud
    target = _cloud(organised_cloud)
    truth = pose_vec_to_mat(rigid(2.0, 0.15))
    source = transform_points(inverse_transform(truth), target)
    kwargs = {'association': 'projective', 'intrinsics': k[None],
              'image_size': tuple(depth.shape[-2:])}
    full = icp(source, target, iterations=60, **kwargs)
    calls = []
    real_kabsch = icp_module._kabsch_planar  # one call per iteration

    def counting_kabsch(*args):
        calls.append(1)
        return real_kabsch(*args)

    icp_module._kabsch_planar = counting_kabsch
    try:
        early = icp(source, target, iterations=60, tolerance=1e-6, **kwargs)
    finally:
        icp_module._kabsch_planar = real_kabsch
    assert 1 < len(calls) < 60
    torch.testing.assert_close(early.transform, full.transform, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match='icp_tolerance'):
        LossConfig(icp_tolerance=0.0)


def test_projective_association_converges_near_the_solution(organised_cloud):
    depth, k = organised_cloud
    target = _cloud(organised_cloud)
    truth = pose_vec_to_mat(rigid(2.0, 0.15))
    source = transform_points(inverse_transform(truth), target)
    result = icp(source, target, iterations=30, association='projective',
                 intrinsics=k[None], image_size=tuple(depth.shape[-2:]))
    err = result.transform @ inverse_transform(truth)
    assert _angle_deg(err[:, :3, :3]).item() < 0.2
    assert err[0, :3, 3].norm().item() < 0.02


def _projective_reference(query, reference, k, size, query_valid, reference_valid, window):
    """Per point in plain Python: project, round, nearest valid point in the window."""
    h, w = size
    index, found = np.zeros(len(query), int), np.zeros(len(query), bool)
    for i, (p, ok) in enumerate(zip(query, query_valid)):
        x, y, z = k @ p
        if not ok or not z > 1e-3:
            continue
        u, v = round(x / z), round(y / z)
        if not (0 <= u <= w - 1 and 0 <= v <= h - 1):
            continue
        best = np.inf
        r = window // 2
        for vv in range(max(v - r, 0), min(v + r, h - 1) + 1):
            for uu in range(max(u - r, 0), min(u + r, w - 1) + 1):
                j = vv * w + uu
                d = ((reference[j] - p) ** 2).sum()
                if reference_valid[j] and d < best:
                    best, index[i], found[i] = d, j, True
    return index, found


@pytest.mark.parametrize('window', [1, 3])
def test_projective_association_matches_a_per_point_reference(organised_cloud, window):
    depth, k = organised_cloud
    target = _cloud(organised_cloud)
    size = tuple(depth.shape[-2:])
    g = torch.Generator().manual_seed(11)
    query = transform_points(pose_vec_to_mat(rigid(3.0, 0.3)), target)
    query = query + 0.02 * torch.randn(query.shape, generator=g, dtype=query.dtype)
    query_valid = torch.rand(query.shape[:2], generator=g) > 0.2
    target_valid = torch.rand(target.shape[:2], generator=g) > 0.3
    index, found = projective_neighbors(query, target, k[None], size, query_valid,
                                        target_valid, window)
    ref_index, ref_found = _projective_reference(
        query[0].numpy(), target[0].numpy(), k.numpy(), size, query_valid[0].numpy(),
        target_valid[0].numpy(), window)
    assert 0.3 < ref_found.mean() < 0.95  # some matched, some outside or invalid
    assert np.array_equal(found[0].numpy(), ref_found)
    assert np.array_equal(index[0].numpy()[ref_found], ref_index[ref_found])


def test_invalid_points_never_correspond(organised_cloud):
    depth, k = organised_cloud
    target = _cloud(organised_cloud)
    n = target.shape[1]
    g = torch.Generator().manual_seed(5)
    tgt_valid = torch.rand(1, n, generator=g) > 0.5
    src_valid = torch.rand(1, n, generator=g) > 0.5
    source = target + 0.01
    source[~src_valid] = float('nan')  # invalid source points may even be NaN
    for assoc in ('nearest', 'projective'):
        idx, found = (nearest_neighbors(source, target, src_valid, tgt_valid)
                      if assoc == 'nearest' else
                      projective_neighbors(source, target, k[None], tuple(depth.shape[-2:]),
                                           src_valid, tgt_valid))
        assert not found[~src_valid].any()
        assert tgt_valid[0, idx[found]].all()
        result = icp(source, target, src_valid, tgt_valid, iterations=3, association=assoc,
                     intrinsics=k[None], image_size=tuple(depth.shape[-2:]))
        assert torch.isfinite(result.transform).all()
        assert (result.residual[~src_valid] == 0).all()
        assert not result.matched[~src_valid].any()


def test_icp_gradient_routes_flipped_signs():
    ego = torch.randn(2, 6, requires_grad=True)
    src = torch.randn(2, 5, 3, requires_grad=True)
    t_vec = torch.randn(2, 6)
    res = torch.randn(2, 5, 3)
    out_t, out_r = ICPGradient.apply(ego, src, t_vec, res)
    torch.testing.assert_close(out_t, t_vec)
    torch.testing.assert_close(out_r, res)
    gt, gr = torch.randn(2, 6), torch.randn(2, 5, 3)
    torch.autograd.backward([out_t, out_r], [gt, gr])
    torch.testing.assert_close(ego.grad, -gt)
    torch.testing.assert_close(src.grad, -gr)


def test_one_step_on_the_3d_loss_reduces_misalignment(organised_cloud):
    depth, k = organised_cloud
    # frame i's depth and the true motion to frame j
    true_vec = torch.tensor([[0.05, 0.0, 0.4, 0.0, 0.02, 0.0]], dtype=torch.float64)
    next_T_prev = pose_vec_to_mat(true_vec)
    cloud_i = depth_to_points(depth[None], k[None]).flatten(2).transpose(1, 2)
    cloud_j = transform_points(next_T_prev, cloud_i)  # frame j's cloud of the same scene
    ego = (true_vec + torch.tensor([[0.03, -0.02, 0.05, 0.01, -0.01, 0.008]],
                                   dtype=torch.float64)).requires_grad_()
    log_depth = torch.log(depth[None]).clone().requires_grad_()
    noise = 0.03 * torch.randn(log_depth.shape, generator=torch.Generator().manual_seed(6),
                               dtype=torch.float64)

    def misalignment():
        pose_err = (ego.detach() - true_vec).abs().sum()
        depth_err = (log_depth.detach() + noise - torch.log(depth[None])).abs().mean()
        return pose_err.item(), depth_err.item()

    before = misalignment()
    # L1 gradients are sign-like: |grad| is 1/6 per pose component and about |p| / (3 N) per
    # pixel, so the two parameter groups get step sizes of matching effect.
    opt = torch.optim.SGD([{'params': [ego], 'lr': 0.02},
                           {'params': [log_depth], 'lr': 20.0}])
    pts = depth_to_points(torch.exp(log_depth + noise), k[None]).flatten(2).transpose(1, 2)
    moved = transform_points(pose_vec_to_mat(ego), pts)
    t_loss, r_loss, _ = icp_loss(moved, ego, cloud_j, iterations=10)
    (t_loss + r_loss).backward()
    assert ego.grad.abs().sum() > 0 and log_depth.grad.abs().sum() > 0
    opt.step()
    after = misalignment()
    print('misalignment before/after', before, after)
    assert after[0] < before[0]
    assert after[1] < before[1]
    del cloud_i


def test_icp_loss_of_perfect_alignment_is_zero(organised_cloud):
    target = _cloud(organised_cloud)
    ego = torch.zeros(1, 6, dtype=torch.float64, requires_grad=True)
    t_loss, r_loss, result = icp_loss(target.clone().requires_grad_(), ego, target,
                                      iterations=5)
    assert t_loss.item() < 1e-9 and r_loss.item() < 1e-9
    zero = torch.zeros(1, 6, dtype=torch.float64)
    assert torch.allclose(mat_to_pose_vec(result.transform), zero)


def test_bad_arguments_are_named():
    pts = torch.zeros(1, 10, 3)
    with pytest.raises(ValueError, match='association'):
        icp(pts, pts, association='kdtree')
    with pytest.raises(ValueError, match='intrinsics and image_size'):
        icp(pts, pts, association='projective')
    with pytest.raises(ValueError, match=r'target must have shape'):
        icp(pts, torch.zeros(2, 10, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device on this machine')
def test_icp_on_cuda_matches_cpu(organised_cloud):
    target = _cloud(organised_cloud).float()
    truth = pose_vec_to_mat(rigid(6.0, 0.4)).float()
    source = transform_points(inverse_transform(truth), target)
    cpu = icp(source, target, iterations=20)
    gpu = icp(source.cuda(), target.cuda(), iterations=20)
    torch.testing.assert_close(gpu.transform.cpu(), cpu.transform, atol=1e-4, rtol=0)
    assert math.isfinite(gpu.rmse.item())
