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


"""Ego-motion evaluation: ATE over 5-frame snippets (SfMLearner's protocol) and trajectories.

Snippet ATE: both trajectories are expressed relative to the snippet's first frame, one
least-squares scale ``sum(gt * pred) / sum(pred ** 2)`` is fitted to the predicted positions,
and ATE is ``sqrt(sum |e|^2) / N``. Full trajectories are aligned by a similarity transform
(Umeyama's closed form) for plots and a whole-run RMSE.

Rotation between consecutive frames is scale-free, so it is scored directly: the mean
relative rotation error in degrees (the rotation part of RPE over one frame) and the
least-squares gain of the predicted rotation vectors on the true ones (1 is right; 0 is a
network that never turns).

May import: numpy, scipy, matplotlib (torch only to resize), :mod:`mono_depth_ros.core`.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

__all__ = ['align_similarity', 'chain_motions', 'evaluate_trajectory', 'rotation_scores',
           'snippet_ate']


def chain_motions(next_T_prev: Sequence[np.ndarray]) -> np.ndarray:
    """Poses ``(N + 1, 4, 4)`` of every frame in frame 0 from N motions ``next_T_prev``."""
    poses = [np.eye(4)]
    for motion in next_T_prev:
        poses.append(poses[-1] @ np.linalg.inv(motion))
    return np.stack(poses)


def snippet_ate(gt_positions: np.ndarray, pred_positions: np.ndarray) -> float:
    """ATE of one snippet; positions ``(N, 3)`` each relative to the snippet's first frame."""
    gt = np.asarray(gt_positions, dtype=np.float64)
    pred = np.asarray(pred_positions, dtype=np.float64)
    if gt.shape != pred.shape or gt.ndim != 2 or gt.shape[1] != 3:
        raise ValueError(f'positions must be (N, 3) of one shape, got {gt.shape} and '
                         f'{pred.shape}')
    gt = gt - gt[0]
    pred = pred - pred[0]
    denom = np.sum(pred ** 2)
    scale = np.sum(gt * pred) / denom if denom > 0 else 0.0
    err = pred * scale - gt
    return float(np.sqrt(np.sum(err ** 2)) / len(gt))


def align_similarity(source: np.ndarray,
                     target: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
    """Scale, rotation and translation minimising ``|s R source + t - target|^2``.

    Umeyama (1991) closed form. ``source`` and ``target`` are ``(N, 3)``.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1
    rot = u @ sign @ vt
    var = np.mean(np.sum(xs ** 2, axis=1))
    scale = float(np.trace(np.diag(d) @ sign) / var) if var > 0 else 1.0
    trans = mu_d - scale * rot @ mu_s
    return scale, rot, trans


def rotation_scores(gt_poses: np.ndarray, pred_poses: np.ndarray) -> Dict[str, float]:
    """Frame-to-frame rotation error (degrees, mean) and rotation gain of two trajectories.

    Both are ``(N, 4, 4)`` camera poses in any world frames; the relative motions
    ``inv(T_i) @ T_(i+1)`` are compared.
    """
    from scipy.spatial.transform import Rotation

    gt_poses = np.asarray(gt_poses, dtype=np.float64)
    pred_poses = np.asarray(pred_poses, dtype=np.float64)
    if gt_poses.shape != pred_poses.shape or len(gt_poses) < 2:
        raise ValueError(f'need two (N, 4, 4) trajectories with N >= 2, got {gt_poses.shape} '
                         f'and {pred_poses.shape}')
    gt_rel = Rotation.from_matrix(np.linalg.inv(gt_poses[:-1])[:, :3, :3] @ gt_poses[1:, :3, :3])
    pred_rel = Rotation.from_matrix(np.linalg.inv(pred_poses[:-1])[:, :3, :3]
                                    @ pred_poses[1:, :3, :3])
    error = np.degrees((gt_rel.inv() * pred_rel).magnitude())
    g, p = gt_rel.as_rotvec(), pred_rel.as_rotvec()
    denominator = float(np.sum(g * g))
    return {'rotation_error_deg': float(error.mean()),
            'rotation_gain': float(np.sum(p * g) / denominator) if denominator > 0 else
            float('nan')}


def evaluate_trajectory(gt_poses: np.ndarray, pred_poses: np.ndarray,
                        snippet: int = 5) -> Dict[str, object]:
    """Snippet ATE (mean, std) and the similarity-aligned full trajectory.

    Args:
        gt_poses: ``(N, 4, 4)`` ground-truth camera poses in any world frame.
        pred_poses: ``(N, 4, 4)`` predicted poses (e.g. :func:`chain_motions`).
        snippet: snippet length (5, as the protocol).

    Returns:
        ``ate_mean``, ``ate_std``, ``snippets``, ``rmse_aligned`` (metres, after the
        similarity alignment), the two figures of :func:`rotation_scores`, and ``aligned``
        (``(N, 3)`` predicted positions aligned to the ground truth, for plots).

    """
    gt_poses = np.asarray(gt_poses)
    pred_poses = np.asarray(pred_poses)
    if gt_poses.shape != pred_poses.shape or len(gt_poses) < snippet:
        raise ValueError(f'need two (N, 4, 4) trajectories with N >= {snippet}, got '
                         f'{gt_poses.shape} and {pred_poses.shape}')
    errors = []
    for start in range(len(gt_poses) - snippet + 1):
        g0 = np.linalg.inv(gt_poses[start])
        p0 = np.linalg.inv(pred_poses[start])
        gt_rel = np.stack([(g0 @ p)[:3, 3] for p in gt_poses[start:start + snippet]])
        pred_rel = np.stack([(p0 @ p)[:3, 3] for p in pred_poses[start:start + snippet]])
        errors.append(snippet_ate(gt_rel, pred_rel))
    scale, rot, trans = align_similarity(pred_poses[:, :3, 3], gt_poses[:, :3, 3])
    aligned = (scale * (rot @ pred_poses[:, :3, 3].T)).T + trans
    return {
        'ate_mean': float(np.mean(errors)),
        'ate_std': float(np.std(errors)),
        'snippets': len(errors),
        'rmse_aligned': float(np.sqrt(np.mean(
            np.sum((aligned - gt_poses[:, :3, 3]) ** 2, axis=1)))),
        **rotation_scores(gt_poses, pred_poses),
        'aligned': aligned,
    }
