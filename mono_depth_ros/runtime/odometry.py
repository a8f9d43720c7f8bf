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

"""Visual odometry by chaining the ego-motion network's frame-to-frame motions.

:func:`motion_matrix` turns one ``(tx, ty, tz, rx, ry, rz)`` vector into its transform.

May import: numpy, scipy.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ['ChainedOdometry', 'motion_matrix', 'twist_from_poses']


class ChainedOdometry:
    """``odom_T_camera`` from successive ``next_T_prev`` motions (REP 105 ``odom``).

    The odometry frame is the camera's pose at the first frame after a reset.
    """

    def __init__(self) -> None:
        """Start at the identity."""
        self.reset()

    def reset(self) -> None:
        """Restart at the identity; the next frame reports ``reset``."""
        self.pose = np.eye(4)
        self.last_stamp: Optional[int] = None
        self.pending_reset = True

    def advance(self, stamp_ns: int, next_T_prev: Optional[np.ndarray],
                scale: float) -> np.ndarray:
        """Apply one motion (None at the first frame) with its translation scaled.

        Returns ``odom_T_camera`` ``(4, 4)`` of the new frame (a copy).
        """
        if next_T_prev is not None:
            motion = np.asarray(next_T_prev, dtype=np.float64)
            # prev_T_next of a rigid motion in closed form (R^T, -R^T s t): no general inverse.
            inverse = np.eye(4)
            inverse[:3, :3] = motion[:3, :3].T
            inverse[:3, 3] = -(motion[:3, :3].T @ motion[:3, 3]) * scale
            self.pose = self.pose @ inverse
        self.last_stamp = stamp_ns
        return self.pose.copy()

    def take_reset(self) -> bool:
        """Whether this frame starts a new odometry (true once per reset)."""
        reset, self.pending_reset = self.pending_reset, False
        return reset


def twist_from_poses(previous: np.ndarray, current: np.ndarray, seconds: float) -> np.ndarray:
    """Velocity ``(vx, vy, vz, wx, wy, wz)`` in the current frame between two poses.

    ``previous`` and ``current`` are ``odom_T_frame`` ``(4, 4)``, ``seconds`` apart
    (positive). The motion between them is taken as constant over the interval: the
    angular velocity is its rotation vector over ``seconds`` (the same in both frames: it
    is the rotation's axis), the linear one the displacement expressed in the current
    frame over ``seconds``.
    """
    if not seconds > 0:
        raise ValueError(f'twist needs a positive time step, got {seconds}')
    prev_T_cur = np.linalg.inv(previous) @ current
    rotation = prev_T_cur[:3, :3]
    linear = rotation.T @ prev_T_cur[:3, 3] / seconds
    angular = Rotation.from_matrix(rotation).as_rotvec() / seconds
    return np.concatenate([linear, angular])


def motion_matrix(vec: np.ndarray) -> np.ndarray:
    """Return the float64 4x4 transform of one ``(tx, ty, tz, rx, ry, rz)`` vector.

    The same as :func:`~mono_depth_ros.core.geometry.pose_vec_to_mat` (``R = Rx Ry Rz``),
    written in numpy for one vector: a frame needs one, and torch's per-op overhead made it
    the largest part of the per-frame work after the networks and the resize.
    """
    tx, ty, tz, rx, ry, rz = (float(v) for v in np.asarray(vec, dtype=np.float64))
    cx, sx, cy, sy, cz, sz = (math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry),
                              math.cos(rz), math.sin(rz))
    return np.array([
        [cy * cz, -cy * sz, sy, tx],
        [sx * sy * cz + cx * sz, -sx * sy * sz + cx * cz, -sx * cy, ty],
        [-cx * sy * cz + sx * sz, cx * sy * sz + sx * cz, cx * cy, tz],
        [0.0, 0.0, 0.0, 1.0]])
