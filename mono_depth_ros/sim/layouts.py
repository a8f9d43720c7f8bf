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

"""Varied training layouts, each a deterministic function of a seed.

A network that only ever sees one kind of street learns that street's average depth map
and draws it whatever the image shows. These builders vary what the streets never do:
width, height, clutter in the middle of the view, indoor ceilings, pillars, and real
photographs as textures (:mod:`mono_depth_ros.sim.textures`), mixed with the procedural
ones. :data:`VARIED_MIX` cycles scene builders and camera paths for a training set;
:data:`INDOOR_MIX` is its indoor part alone.

The held-out scenes of the benchmarks (the hall, the room, streets of other seeds) are not
built here.

May import: torch, numpy, rosbags, PyAV, :mod:`mono_depth_ros.core`,
:mod:`mono_depth_ros.data`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List, Tuple

from mono_depth_ros.sim.motion import car_trajectory, handheld_trajectory
from mono_depth_ros.sim.scene import box, closed_room, Rectangle, Scene
from mono_depth_ros.sim.textures import PHOTOS
import numpy as np
import torch

__all__ = ['INDOOR_MIX', 'MIXES', 'VARIED_MIX', 'courtyard', 'photo_street',
           'varied_scene_and_path', 'warehouse']


def _photos(rects: List[Rectangle], rng: np.random.Generator, share: float) -> Scene:
    """Give each rectangle a photograph with probability ``share`` (else keep noise)."""
    out = []
    for rect in rects:
        if rng.random() < share:
            rect = dataclasses.replace(rect, photo=int(rng.integers(len(PHOTOS))))
        out.append(rect)
    return Scene(tuple(out))


def _colour(rng: np.random.Generator) -> Tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(0.2, 0.9, size=3))


def photo_street(seed: int, length: float, camera_height: float = 1.65) -> Scene:
    """Build a street of random width and height with cars, kiosks and lamp posts."""
    rng = np.random.default_rng(seed)
    half = rng.uniform(4.5, 10.0)
    rects = list(closed_room(camera_height, half_width=half, height=rng.uniform(5.0, 14.0),
                             near=-10.0, far=length).rectangles)
    z = 4.0
    while z < length - 5.0:
        side = rng.choice([-1.0, 1.0])
        size = (rng.uniform(1.0, 2.8), rng.uniform(0.8, 2.5), rng.uniform(1.0, 4.5))
        x = side * rng.uniform(2.2, max(2.3, half - size[0] / 2))
        rects += box((x, camera_height - size[1] / 2, z), size, _colour(rng),
                     period=rng.uniform(0.3, 1.2), phase=float(rng.uniform(0, 100)))
        if rng.random() < 0.35:  # a lamp post or tree trunk
            px = -side * rng.uniform(2.0, half - 0.3)
            rects += box((px, camera_height - 2.5, z + 1.5), (0.25, 5.0, 0.25), _colour(rng),
                         period=0.3, phase=float(rng.uniform(0, 100)))
        z += rng.uniform(3.0, 8.0)
    return _photos(rects, rng, 0.7)


def courtyard(seed: int, length: float, camera_height: float = 1.65) -> Scene:
    """Build a wide yard or plaza: scattered blocks and pillars at every distance."""
    rng = np.random.default_rng(seed)
    half = rng.uniform(9.0, 16.0)
    rects = list(closed_room(camera_height, half_width=half, height=rng.uniform(8.0, 20.0),
                             near=-8.0, far=length).rectangles)
    for _ in range(int(length * half / 25.0)):
        x, z = rng.uniform(-half + 1, half - 1), rng.uniform(2.0, length - 2.0)
        if abs(x) < 1.6:  # keep the camera's lane free
            continue
        if rng.random() < 0.3:
            size = (rng.uniform(0.3, 0.8), rng.uniform(3.0, 7.0), rng.uniform(0.3, 0.8))
        else:
            size = tuple(rng.uniform(0.5, 3.0, size=3))
        rects += box((x, camera_height - size[1] / 2, z), size, _colour(rng),
                     period=rng.uniform(0.3, 1.5), phase=float(rng.uniform(0, 100)))
    return _photos(rects, rng, 0.6)


def warehouse(seed: int, length: float, camera_height: float = 1.4) -> Scene:
    """Build an indoor space with a ceiling: shelves of crates along the walls and in rows."""
    rng = np.random.default_rng(seed)
    half = rng.uniform(2.5, 7.0)
    height = rng.uniform(2.6, 6.0)
    rects = list(closed_room(camera_height, half_width=half, height=height, near=-4.0,
                             far=length).rectangles)
    z = 1.5
    while z < length - 2.0:
        for side in (-1.0, 1.0):
            if rng.random() < 0.7:
                w = rng.uniform(0.5, min(2.0, half - 1.3))
                h = rng.uniform(0.4, min(2.5, height - 0.2))
                rects += box((side * (half - w / 2 - rng.uniform(0, 0.4)), camera_height - h / 2,
                              z), (w, h, rng.uniform(0.5, 2.0)), _colour(rng),
                             period=rng.uniform(0.2, 0.8), phase=float(rng.uniform(0, 100)))
        z += rng.uniform(1.5, 4.0)
    return _photos(rects, rng, 0.7)


def _robot(frames: int, seed: int) -> torch.Tensor:
    return car_trajectory(frames, seed=seed, speed=0.3, max_lateral=0.6,
                          stop_probability=0.2)


def _walk(frames: int, seed: int) -> torch.Tensor:
    return handheld_trajectory(frames, seed=seed, height_drop=0.0, lateral=0.0,
                               yaw_amplitude=float(np.random.default_rng(seed).uniform(0.08,
                                                                                       0.22)))


#: (name, scene builder, camera path) cycled by sequence index in a varied training set
VARIED_MIX: Tuple[Tuple[str, Callable, Callable], ...] = (
    ('street_car', photo_street, lambda n, s: car_trajectory(n, seed=s)),
    ('street_walk', photo_street, lambda n, s: handheld_trajectory(n, seed=s)),
    ('courtyard_robot', courtyard, _robot),
    ('warehouse_walk', warehouse, _walk),
    ('courtyard_walk', courtyard, _walk),
    ('warehouse_robot', warehouse, _robot),
)


#: the indoor entries of :data:`VARIED_MIX` (a walk and a robot among shelves), for a set that
#: adds indoor spaces to a street-heavy training mix
INDOOR_MIX = tuple(entry for entry in VARIED_MIX if entry[0].startswith('warehouse'))
#: the mixes by the name ``prepare render --scenes`` gives them
MIXES = {'varied': VARIED_MIX, 'indoor': INDOOR_MIX}


def varied_scene_and_path(index: int, seed: int, frames: int,
                          mix: str = 'varied') -> Tuple[str, Scene, torch.Tensor]:
    """Scene and ``world_T_camera`` path ``(frames, 4, 4)`` of sequence ``index`` of a mix.

    Raises:
        ValueError: ``mix`` is not a key of :data:`MIXES`.

    """
    if mix not in MIXES:
        raise ValueError(f'unknown scene mix {mix!r}; mixes: {sorted(MIXES)}')
    entries = MIXES[mix]
    name, build, move = entries[index % len(entries)]
    poses = move(frames, seed)
    travelled = float(poses[:, 2, 3].max())
    scene = build(seed, length=max(30.0, travelled + 40.0))
    return name, scene, poses
