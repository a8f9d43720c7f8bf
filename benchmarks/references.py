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

"""Independent references for tests and benchmarks, written with numpy and scipy only.

Nothing here uses the package's own geometry or ICP, so comparing against it checks them.
"""

from typing import Optional

import numpy as np
from scipy.spatial import cKDTree

__all__ = ['reference_icp']


def reference_icp(source: np.ndarray, target: np.ndarray, iterations: int,
                  max_dist: Optional[float] = None, trim: float = 1.0) -> np.ndarray:
    """Point-to-point ICP with scipy's cKDTree and numpy's SVD, for one pair of clouds.

    Args:
        source: source points, shape ``(N, 3)``.
        target: target points, shape ``(M, 3)``.
        iterations: ICP iterations.
        max_dist: reject pairs farther apart than this (metres), or keep all.
        trim: keep the closest ``ceil(trim * n)`` pairs each iteration (trimmed ICP).

    Returns:
        ``target_T_source``, shape ``(4, 4)``, float64.

    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    tree = cKDTree(target)
    total = np.eye(4)
    current = source.copy()
    for _ in range(iterations):
        dist, idx = tree.query(current)
        keep = np.ones(len(current), bool) if max_dist is None else dist <= max_dist
        if trim < 1.0:
            kth = int(np.ceil(trim * keep.sum())) - 1
            keep &= dist <= np.sort(dist[keep])[kth]
        s, d = current[keep], target[idx[keep]]
        sc, dc = s.mean(0), d.mean(0)
        u, _, vt = np.linalg.svd((s - sc).T @ (d - dc))
        r = vt.T @ np.diag([1, 1, np.sign(np.linalg.det(vt.T @ u.T))]) @ u.T
        step = np.eye(4)
        step[:3, :3], step[:3, 3] = r, dc - r @ sc
        total = step @ total
        current = source @ total[:3, :3].T + total[:3, 3]
    return total
