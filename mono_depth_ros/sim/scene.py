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

"""A small analytic ray caster: textured rectangles with exact depth and camera poses.

Every pixel's ray is intersected with every rectangle in closed form, so the depth (z along
the optical axis) and the colour at each pixel centre are exact. Textures are smooth
procedural patterns (sums of sinusoids over metric surface coordinates), which keeps
bilinear resampling error small and known. The world frame follows the optical
convention (x right, y down, z forward), with the ground plane at ``y = camera height``.

May import: torch, numpy, rosbags, PyAV, :mod:`mono_depth_ros.core`,
:mod:`mono_depth_ros.data`.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import List, Sequence, Tuple

from mono_depth_ros.core.camera import pixel_grid, scale_intrinsics
from mono_depth_ros.core.rotation import pose_from_angles
from mono_depth_ros.sim import textures
import torch

__all__ = ['Rectangle', 'Scene', 'box', 'closed_room', 'drive', 'hall', 'look_transform',
           'render', 'street']


@dataclass(frozen=True)
class Rectangle:
    """A textured rectangle ``origin + a * axis_u + b * axis_v``, ``a, b`` in ``[0, 1]``.

    Attributes:
        origin: a corner, world coordinates (metres).
        axis_u: first edge vector (metres).
        axis_v: second edge vector (metres), perpendicular to ``axis_u``.
        colour: base RGB in ``[0, 1]``.
        period: texture wavelength in metres.
        phase: texture phase (radians), to tell surfaces apart.
        photo: index of a photograph in :mod:`mono_depth_ros.sim.textures` to tile over
            the surface (one tile every ``4 * period`` metres, tinted by ``colour``), or
            -1 for the procedural fractal texture.

    """

    origin: Tuple[float, float, float]
    axis_u: Tuple[float, float, float]
    axis_v: Tuple[float, float, float]
    colour: Tuple[float, float, float]
    period: float = 1.0
    phase: float = 0.0
    photo: int = -1


@dataclass(frozen=True)
class Scene:
    """A list of rectangles and a background colour for rays that hit nothing."""

    rectangles: Tuple[Rectangle, ...]
    background: Tuple[float, float, float] = (0.55, 0.7, 0.9)


def box(centre: Sequence[float], size: Sequence[float], colour: Sequence[float],
        period: float = 0.5, phase: float = 0.0) -> List[Rectangle]:
    """Return the six faces of an axis-aligned box."""
    cx, cy, cz = centre
    sx, sy, sz = (s / 2 for s in size)
    x0, x1, y0, y1, z0, z1 = cx - sx, cx + sx, cy - sy, cy + sy, cz - sz, cz + sz
    col = tuple(colour)
    faces = [
        ((x0, y0, z0), (2 * sx, 0, 0), (0, 2 * sy, 0)),  # front (z0)
        ((x0, y0, z1), (2 * sx, 0, 0), (0, 2 * sy, 0)),  # back (z1)
        ((x0, y0, z0), (0, 0, 2 * sz), (0, 2 * sy, 0)),  # left (x0)
        ((x1, y0, z0), (0, 0, 2 * sz), (0, 2 * sy, 0)),  # right (x1)
        ((x0, y0, z0), (2 * sx, 0, 0), (0, 0, 2 * sz)),  # top (y0)
        ((x0, y1, z0), (2 * sx, 0, 0), (0, 0, 2 * sz)),  # bottom (y1)
    ]
    return [Rectangle(o, u, v, col, period, phase + k) for k, (o, u, v) in enumerate(faces)]


def closed_room(camera_height: float = 1.65, half_width: float = 6.0, height: float = 6.0,
                near: float = -10.0, far: float = 60.0) -> Scene:
    """Build a closed textured box seen from inside: every ray hits, nothing is occluded."""
    top = camera_height - height
    w = 2 * half_width
    length = far - near
    rects = (
        Rectangle((-half_width, camera_height, near), (w, 0, 0), (0, 0, length),
                  (0.45, 0.42, 0.38), 1.3, 0.0),  # ground
        Rectangle((-half_width, top, near), (w, 0, 0), (0, 0, length),
                  (0.6, 0.62, 0.7), 2.1, 1.0),  # ceiling
        Rectangle((-half_width, top, near), (0, 0, length), (0, height, 0),
                  (0.7, 0.45, 0.35), 1.7, 2.0),  # left wall
        Rectangle((half_width, top, near), (0, 0, length), (0, height, 0),
                  (0.35, 0.55, 0.65), 1.1, 3.0),  # right wall
        Rectangle((-half_width, top, far), (w, 0, 0), (0, height, 0),
                  (0.5, 0.6, 0.4), 2.5, 4.0),  # far wall
        Rectangle((-half_width, top, near), (w, 0, 0), (0, height, 0),
                  (0.4, 0.4, 0.5), 2.5, 5.0),  # near wall
    )
    return Scene(rects)


def hall(camera_height: float = 1.4) -> Scene:
    """Build a narrow indoor hall, 4 m wide and 3 m high, with five boxes (unlike the streets).

    The camera's optical frame starts on the centre line, ``camera_height`` above the floor.
    """
    room = closed_room(camera_height=camera_height, half_width=2.0, height=3.0, near=-4.0,
                       far=18.0)
    rects = list(room.rectangles)
    for i, (x, z, colour) in enumerate([(-1.3, 3.0, (0.8, 0.3, 0.3)), (1.2, 5.5, (0.3, 0.7, 0.3)),
                                        (-1.1, 8.0, (0.3, 0.3, 0.8)), (1.3, 10.5, (0.8, 0.8, 0.2)),
                                        (-1.2, 13.0, (0.6, 0.2, 0.7))]):
        rects += box((x, camera_height - 0.45, z), (0.8, 0.9, 0.8), colour, period=0.3,
                     phase=10.0 + i)
    return Scene(tuple(rects))


def look_transform(position: Sequence[float], yaw: float = 0.0, pitch: float = 0.0,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Return ``world_T_camera`` of shape ``(4, 4)`` for a camera at ``position``.

    The camera is turned by ``yaw`` (about the world's down axis, positive to the right)
    and ``pitch`` (positive looks down).
    """
    return torch.from_numpy(pose_from_angles(position, yaw, pitch)).to(dtype)


def street(seed: int = 0, camera_height: float = 1.65, length: float = 90.0) -> Scene:
    """Build a walled street with boxes (cars, kiosks) at varied distances from a seed.

    The street runs along +z from ``z = -10`` to ``z = length - 10``, is 14 m wide, and
    keeps a corridor of about 1.8 m either side of ``x = 0`` free of boxes.
    """
    gen = torch.Generator().manual_seed(seed)
    far = length - 10.0
    rects = list(closed_room(camera_height, half_width=7.0, height=8.0, near=-10.0,
                             far=far).rectangles)
    for i in range(max(1, int((far - 9.0) / 7.0))):
        r = torch.rand(6, generator=gen).tolist()
        side = -1.0 if i % 2 == 0 else 1.0
        size = (1.2 + 1.5 * r[0], 1.0 + 1.2 * r[1], 1.5 + 2.5 * r[2])
        centre = (side * (3.2 + 2.5 * r[3]), camera_height - size[1] / 2, 6.0 + 7.0 * i
                  + 3.0 * r[4])
        colour = (0.2 + 0.7 * r[5], 0.2 + 0.6 * r[0], 0.2 + 0.6 * r[2])
        rects += box(centre, size, colour, period=0.4 + r[1], phase=float(i))
    return Scene(tuple(rects))


def drive(frames: int, step: float = 0.4, yaw_rate: float = 0.01, start: float = 0.0,
          lateral: float = 0.0, dtype: torch.dtype = torch.float64) -> List[torch.Tensor]:
    """Return ``world_T_camera`` poses of a camera driving forward and turning gently.

    Args:
        frames: number of poses.
        step: metres travelled per frame.
        yaw_rate: change of heading per frame (radians); the sign alternates every
            ``frames // 2`` poses so the path weaves instead of circling.
        start: forward position (metres) of the first pose.
        lateral: sideways offset (metres) of the whole path.
        dtype: dtype of the poses.

    """
    poses = []
    x, z, yaw = lateral, start, 0.0
    for i in range(frames):
        poses.append(look_transform([x, 0.0, z], yaw=yaw, dtype=dtype))
        yaw += yaw_rate if (i // max(frames // 2, 1)) % 2 == 0 else -yaw_rate
        x += step * math.sin(yaw)
        z += step * math.cos(yaw)
    return poses


def _lattice_value(i: torch.Tensor, j: torch.Tensor, seed: float) -> torch.Tensor:
    """Pseudo-random value in ``[0, 1)`` per integer lattice point (a sine hash)."""
    x = torch.sin(i * 12.9898 + j * 78.233 + seed * 37.719) * 43758.5453
    return x - torch.floor(x)


def _value_noise(a: torch.Tensor, b: torch.Tensor, seed: float) -> torch.Tensor:
    """Smoothly interpolated lattice noise in ``[0, 1]`` with unit feature size."""
    i, j = torch.floor(a), torch.floor(b)
    fa, fb = a - i, b - j
    wa, wb = fa * fa * (3 - 2 * fa), fb * fb * (3 - 2 * fb)
    v00, v10 = _lattice_value(i, j, seed), _lattice_value(i + 1, j, seed)
    v01, v11 = _lattice_value(i, j + 1, seed), _lattice_value(i + 1, j + 1, seed)
    return (v00 * (1 - wa) + v10 * wa) * (1 - wb) + (v01 * (1 - wa) + v11 * wa) * wb


def _fractal(a: torch.Tensor, b: torch.Tensor, seed: float, octaves: int = 5) -> torch.Tensor:
    """Sum value-noise octaves, amplitude falling 0.6 per octave: broadband, not periodic."""
    total = torch.zeros_like(a)
    amplitude, norm = 1.0, 0.0
    for o in range(octaves):
        total = total + amplitude * _value_noise(a * 2 ** o, b * 2 ** o, seed + 17.0 * o)
        norm += amplitude
        amplitude *= 0.6
    return total / norm


def _texture(rect: Rectangle, a: torch.Tensor, b: torch.Tensor,
             footprint: torch.Tensor) -> torch.Tensor:
    """Colour at metric surface coordinates ``(a, b)``, shape ``(N, 3)``.

    With ``rect.photo >= 0``, a tiled photograph sampled at the pixel ``footprint``
    (metres of surface per pixel). Otherwise fractal value noise whose coarsest features
    are ``2 * period`` metres wide, seeded by the rectangle's phase: like real surfaces,
    it has detail at every scale and never repeats, so photometric matching has one clear
    answer.
    """
    base = torch.tensor(rect.colour, dtype=a.dtype, device=a.device)
    if rect.photo >= 0:
        photo = textures.sample(rect.photo, a + 7.3 * rect.phase, b + 3.1 * rect.phase,
                                4.0 * rect.period, footprint)
        return (0.35 * base + 0.8 * photo - 0.15).clamp(0.0, 1.0)
    scale = 1.0 / (2.0 * rect.period)
    seed = rect.phase
    light = _fractal(a * scale, b * scale, seed) - 0.5
    tint = _fractal(a * scale + 101.0, b * scale + 53.0, seed + 7.0, octaves=3) - 0.5
    shade = torch.stack([light + 0.3 * tint, light, light - 0.3 * tint], dim=-1)
    return (base + 0.9 * shade).clamp(0.0, 1.0)


def _footprint(t: torch.Tensor, rays: torch.Tensor, denom: torch.Tensor,
               normal: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """Metres of surface one pixel covers where rays ``(N, 3)`` hit a plane at z-depth ``t``.

    ``spread`` is the ray's length per unit z over the focal length; grazing angles are
    capped at a cosine of 0.2 (wider footprints would blur to the mean colour anyway).
    """
    cosine = denom.abs() / (rays.norm(dim=1) * normal.norm())
    return t * spread / cosine.clamp(min=0.2)


def render(scene: Scene, world_T_camera: torch.Tensor, intrinsics: torch.Tensor,
           height: int, width: int, supersample: int = 1) -> Tuple[torch.Tensor, torch.Tensor]:
    """Render the image and the exact z-depth seen by one camera.

    Args:
        scene: what to draw.
        world_T_camera: camera pose, shape ``(4, 4)``.
        intrinsics: camera matrix, shape ``(3, 3)``.
        height: image height.
        width: image width.
        supersample: colour is rendered at this many times the resolution and averaged
            down (anti-aliasing, as a camera's pixels integrate light); the depth is always
            the exact depth at each pixel centre.

    Returns:
        ``(image, depth)``: shapes ``(3, H, W)`` in ``[0, 1]`` and ``(1, H, W)`` in metres,
        ``inf`` where a ray hits nothing. Both in the pose's dtype.

    """
    if supersample > 1:
        k_big = scale_intrinsics(intrinsics.to(world_T_camera.dtype), supersample,
                                 supersample)
        big, _ = render(scene, world_T_camera, k_big, height * supersample,
                        width * supersample)
        image = torch.nn.functional.avg_pool2d(big[None], supersample)[0]
        return image, render(scene, world_T_camera, intrinsics, height, width)[1]
    dtype = world_T_camera.dtype
    k = intrinsics.to(dtype)
    pix = pixel_grid(height, width, dtype)[0].reshape(3, -1).T
    rays_cam = pix @ torch.linalg.inv(k).T  # z = 1 in the camera
    centre = world_T_camera[:3, 3]
    rays = rays_cam @ world_T_camera[:3, :3].T
    n_pix = rays.shape[0]
    # Metres of surface per pixel along each ray at unit z, before the incidence angle.
    spread = rays.norm(dim=1) / k[0, 0]
    best_t = torch.full((n_pix,), math.inf, dtype=dtype)
    colour = torch.tensor(scene.background, dtype=dtype).expand(n_pix, 3).clone()
    for rect in scene.rectangles:
        origin = torch.tensor(rect.origin, dtype=dtype)
        au = torch.tensor(rect.axis_u, dtype=dtype)
        av = torch.tensor(rect.axis_v, dtype=dtype)
        normal = torch.linalg.cross(au, av)
        denom = rays @ normal
        with torch.no_grad():
            t = ((origin - centre) @ normal) / denom
        hit = centre + t[:, None] * rays
        rel = hit - origin
        a = rel @ au / (au @ au)
        b = rel @ av / (av @ av)
        inside = (denom.abs() > 1e-12) & (t > 1e-6) & (a >= 0) & (a <= 1) & (b >= 0) & (b <= 1)
        closer = inside & (t < best_t)
        if closer.any():
            footprint = _footprint(t[closer], rays[closer], denom[closer], normal,
                                   spread[closer])
            colour[closer] = _texture(rect, a[closer] * au.norm(), b[closer] * av.norm(),
                                      footprint)
            best_t = torch.where(closer, t, best_t)
    # rays_cam has z = 1, so the ray parameter t is the z-depth in the camera.
    image = colour.T.reshape(3, height, width)
    return image, best_t.reshape(1, height, width)
