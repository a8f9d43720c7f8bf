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

"""The metric scale of monocular depth: fixed, or from a ground plane at a known height.

Monocular depth has no scale of its own. A scale source turns the network's depth into
metres; depth, points and odometry then share it. Sources are made by name through
:func:`make_scale` (the registry :data:`SCALES`).

May import: numpy.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

__all__ = ['FixedScale', 'GroundPlaneScale', 'SCALES', 'ground_plane_height', 'make_scale']


def ground_plane_height(points: np.ndarray, iterations: int = 60, threshold: float = 0.02,
                        seed: int = 0) -> Optional[float]:
    """Distance from the camera to the dominant plane below it (RANSAC), or None.

    ``points`` ``(N, 3)`` are in the optical frame (y down); only points below the optical
    axis (y > 0) are used, and a plane counts as ground if its normal is within 30 degrees
    of the y axis. A point is an inlier within ``threshold`` times its own distance (depth
    noise grows with range).
    """
    below = points[np.isfinite(points).all(1) & (points[:, 1] > 0)]
    if len(below) < 50:
        return None
    rng = np.random.default_rng(seed)
    tol = threshold * np.linalg.norm(below, axis=1)
    # All hypotheses at once: random triples, their normals, inlier counts in one product.
    triples = below[rng.integers(0, len(below), (iterations, 3))]  # repeats: zero normal
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    usable = norms > 1e-9
    normals[usable] /= norms[usable, None]
    usable &= np.abs(normals[:, 1]) >= np.cos(np.radians(30))  # ground-like only
    best, best_count = None, 0
    if usable.any():
        offsets = np.einsum('ij,ij->i', triples[usable, 0], normals[usable])
        # Hypotheses by rows, points along them: counting along contiguous rows is several
        # times faster than summing a boolean (points, hypotheses) array down its columns.
        distances = normals[usable] @ np.ascontiguousarray(below.T)
        distances -= offsets[:, None]
        np.abs(distances, out=distances)
        counts = np.count_nonzero(distances < tol, axis=1)
        pick = int(np.argmax(counts))
        best = (normals[usable][pick], triples[usable, 0][pick])
        best_count = int(counts[pick])
    if best is None or best_count < 30:
        return None
    normal, centre = best
    for shrink in (1.0, 0.5, 0.25):  # refit on the inliers with a tightening band
        inliers = below[np.abs((below - centre) @ normal) < shrink * tol]
        if len(inliers) < 3:
            break
        centre = inliers.mean(0, dtype=np.float64)
        # The least-squares normal: the scatter's eigenvector of the smallest eigenvalue
        # (the last right-singular vector of the centred points, from a 3x3 problem).
        offsets = inliers - centre
        normal = np.linalg.eigh(offsets.T @ offsets)[1][:, 0]
    return float(abs(centre @ normal))


class FixedScale:
    """Metres per network depth unit: a constant ``depth_scale``."""

    def __init__(self, depth_scale: float = 1.0, **_: object) -> None:
        """Check and keep the factor."""
        if not depth_scale > 0:
            raise ValueError(f'depth_scale must be positive, got {depth_scale}')
        self.depth_scale = float(depth_scale)

    def update(self, points: Optional[np.ndarray]) -> float:
        """Return the scale (``points`` are not needed)."""
        return self.depth_scale

    def reset(self) -> None:
        """Nothing to forget."""

    @property
    def needs_points(self) -> bool:
        """Whether :meth:`update` looks at the points."""
        return False


class GroundPlaneScale(FixedScale):
    """``depth_scale`` times the factor that puts the fitted ground ``camera_height`` below.

    The estimate is smoothed over frames (``smoothing`` = weight of the newest one); frames
    without a ground fit keep the last estimate.
    """

    def __init__(self, depth_scale: float = 1.0, camera_height: float = 1.0,
                 smoothing: float = 0.1, **_: object) -> None:
        """Check and keep the parameters."""
        super().__init__(depth_scale)
        if not camera_height > 0:
            raise ValueError(f'camera_height must be positive, got {camera_height}')
        if not 0 < smoothing <= 1:
            raise ValueError(f'smoothing must be in (0, 1], got {smoothing}')
        self.camera_height = float(camera_height)
        self.smoothing = float(smoothing)
        self._ground: Optional[float] = None

    def update(self, points: Optional[np.ndarray]) -> float:
        """Fit the ground in ``points`` ``(N, 3)`` (network units) and return the scale."""
        height = ground_plane_height(points) if points is not None else None
        if height is not None and height > 0:
            estimate = self.camera_height / height
            a = self.smoothing
            self._ground = estimate if self._ground is None else (
                (1 - a) * self._ground + a * estimate)
        return self.depth_scale * (self._ground or 1.0)

    def reset(self) -> None:
        """Forget the smoothed estimate."""
        self._ground = None

    @property
    def needs_points(self) -> bool:
        """Whether :meth:`update` looks at the points."""
        return True


#: scale sources by name
SCALES: Dict[str, Callable[..., FixedScale]] = {
    'fixed': FixedScale,
    'ground_plane': GroundPlaneScale,
}


def make_scale(kind: str, **options: object) -> FixedScale:
    """Build the scale source ``kind`` (a key of :data:`SCALES`) with its options."""
    if kind not in SCALES:
        raise ValueError(f'unknown scale source {kind!r}; known: {sorted(SCALES)}')
    return SCALES[kind](**options)
