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

"""Rotations and rigid poses as numpy arrays: quaternions, matrices, poses from angles.

The one home of these conversions for the node's messages, the bag readers and writers
and the simulator. Quaternions are ``(x, y, z, w)`` as in ROS messages; rotations go
through scipy's ``Rotation``, a well-kept implementation that normalises its input.

May import: numpy and scipy only.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ['matrix_to_quaternion', 'pose_from_angles', 'pose_from_quaternion',
           'quaternion_to_matrix']


def quaternion_to_matrix(quaternion: Sequence[float], name: str = 'quaternion') -> np.ndarray:
    """Rotation matrix ``(3, 3)`` of a quaternion ``(x, y, z, w)`` (normalised first).

    Raises:
        ValueError: not four finite numbers, or a zero quaternion; ``name`` says which.

    """
    q = np.asarray(quaternion, dtype=np.float64).reshape(-1)
    if q.size != 4 or not np.isfinite(q).all():
        raise ValueError(f'{name} must be four finite numbers (x y z w), got {q.tolist()}')
    if np.linalg.norm(q) < 1e-12:
        raise ValueError(f'{name} is zero: not a rotation')
    return Rotation.from_quat(q).as_matrix()


def matrix_to_quaternion(rotation: np.ndarray) -> list:
    """Quaternion ``(x, y, z, w)`` of a rotation matrix ``(3, 3)``, with ``w >= 0``."""
    q = Rotation.from_matrix(np.asarray(rotation, dtype=np.float64)).as_quat()
    return (q if q[3] >= 0 else -q).tolist()


def pose_from_quaternion(translation: Sequence[float], quaternion: Sequence[float],
                         name: str = 'pose') -> np.ndarray:
    """``(4, 4)`` rigid transform from a translation ``(x, y, z)`` and ``(x, y, z, w)``."""
    t = np.asarray(translation, dtype=np.float64).reshape(-1)
    if t.size != 3 or not np.isfinite(t).all():
        raise ValueError(f'{name}: translation must be three finite numbers, got {t.tolist()}')
    out = np.eye(4)
    out[:3, :3] = quaternion_to_matrix(quaternion, f'{name} quaternion')
    out[:3, 3] = t
    return out


def pose_from_angles(position: Sequence[float], yaw: float = 0.0, pitch: float = 0.0,
                     roll: float = 0.0) -> np.ndarray:
    """``world_T_camera`` ``(4, 4)`` of an optical-frame camera (x right, y down, z forward).

    The camera is turned by ``yaw`` about the world's down axis (positive to the right), then
    by ``pitch`` about its own x axis (positive down), then by ``roll`` about its z axis.
    """
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    yaw_m = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    pitch_m = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    roll_m = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    out = np.eye(4)
    out[:3, :3] = yaw_m @ pitch_m @ roll_m
    out[:3, 3] = np.asarray(position, dtype=np.float64)
    return out
