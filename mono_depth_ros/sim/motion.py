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


"""Camera trajectories: a car (cruise, curves, stops) and a handheld / robot camera.

Poses are ``world_T_camera`` in the scenes' world frame (x right, y down, z forward; the
ground is the plane ``y = camera_height`` of the scene), shape ``(N, 4, 4)``, float64.
Every trajectory is a deterministic function of its seed.

May import: torch, numpy, rosbags, PyAV, :mod:`mono_depth_ros.core`,
:mod:`mono_depth_ros.data`.
"""

from __future__ import annotations

import math
from typing import Optional

from mono_depth_ros.core.rotation import pose_from_angles
import numpy as np
import torch

__all__ = ['car_trajectory', 'handheld_trajectory']


def car_trajectory(frames: int, seed: int = 0, speed: float = 0.6, start: float = 0.0,
                   max_lateral: float = 1.2, stop_probability: float = 0.5,
                   fps: float = 10.0) -> torch.Tensor:
    """Poses of a car-mounted camera (height set by the scene): cruise, curves and a stop.

    The car follows a smooth weaving path (headings up to about 15 degrees) and, with
    ``stop_probability``, brakes to a halt for a few frames and drives off again (the
    static frames that data preparation must remove).

    Args:
        frames: number of poses.
        seed: random seed.
        speed: cruise speed in metres per frame.
        start: forward position (metres) of the first pose.
        max_lateral: amplitude of the weave (metres).
        stop_probability: chance that the sequence contains a stop.
        fps: frame rate (only used to shape the pitch oscillation).

    Returns:
        ``(frames, 4, 4)`` float64.

    """
    rng = np.random.default_rng(seed)
    v = np.full(frames, speed)
    if frames >= 20 and rng.random() < stop_probability:
        begin = int(rng.integers(frames // 4, frames // 2))
        ramp, hold = 4, int(rng.integers(3, 7))
        profile = np.concatenate([np.linspace(1, 0, ramp + 1)[1:], np.zeros(hold),
                                  np.linspace(0, 1, ramp + 1)[1:]])
        end = min(frames, begin + len(profile))
        v[begin:end] *= profile[:end - begin]
    distance = np.concatenate([[0.0], np.cumsum(v[:-1])])
    wavelength = rng.uniform(18.0, 30.0)
    phase = rng.uniform(0, 2 * math.pi)
    amp = rng.uniform(0.5, 1.0) * max_lateral
    poses = []
    for i in range(frames):
        s = distance[i]
        x = amp * math.sin(2 * math.pi * s / wavelength + phase)
        slope = amp * 2 * math.pi / wavelength * math.cos(2 * math.pi * s / wavelength + phase)
        # The path x(s) is parametrised by forward distance; heading follows its slope.
        yaw = math.atan(slope)
        pitch = 0.01 * math.sin(2 * math.pi * 1.3 * i / fps) * (v[i] > 0)
        poses.append(pose_from_angles([x, 0.0, start + s], yaw, pitch))
    return torch.from_numpy(np.stack(poses))


def handheld_trajectory(frames: int, seed: int = 0, speed: float = 0.15,
                        start: float = 0.0, height_drop: float = 0.25,
                        lateral: Optional[float] = None,
                        yaw_amplitude: float = 0.15) -> torch.Tensor:
    """Poses of a handheld or small-robot camera walking down the scene.

    Slower than the car, lower (``height_drop`` metres below the car camera), with the
    bob, sway, and yaw/pitch/roll wander of a hand or a bumpy robot base; the yaw wanders
    up to ``yaw_amplitude`` radians either side (0.3 looks around like a person panning).

    Returns:
        ``(frames, 4, 4)`` float64.

    """
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1.2, 1.2) if lateral is None else lateral
    freqs = rng.uniform(0.05, 0.12, size=4)
    phases = rng.uniform(0, 2 * math.pi, size=4)
    poses = []
    for i in range(frames):
        step = 2 * math.pi * i
        bob = 0.03 * math.sin(step * 0.2)
        x = x0 + 0.3 * math.sin(step * freqs[0] + phases[0])
        yaw = yaw_amplitude * math.sin(step * freqs[1] + phases[1])
        pitch = 0.05 * math.sin(step * freqs[2] + phases[2])
        roll = 0.04 * math.sin(step * freqs[3] + phases[3])
        poses.append(pose_from_angles([x, height_drop + bob, start + speed * i], yaw, pitch,
                                      roll))
    return torch.from_numpy(np.stack(poses))
