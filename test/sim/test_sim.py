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

"""The ray caster against closed forms: ground-plane and wall depth, supersampling."""

from conftest import make_intrinsics
from mono_depth_ros.sim.scene import closed_room, drive, look_transform, render, street
import torch


def test_ground_and_wall_depth_match_closed_form():
    h, w = 60, 80
    k = make_intrinsics(h, w)
    height, half_width = 1.65, 6.0
    scene = closed_room(camera_height=height, half_width=half_width, far=40.0)
    _, depth = render(scene, look_transform([0.0, 0.0, 0.0]), k, h, w)
    f, cx, cy = k[0, 0].item(), k[0, 2].item(), k[1, 2].item()
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                          torch.arange(w, dtype=torch.float64), indexing='ij')
    # every ray (x, y, 1) * z hits the first of: ground y = height, walls x = +-6,
    # ceiling y = height - 6, far wall z = 40
    with torch.no_grad():
        rx, ry = (u - cx) / f, (v - cy) / f
        cands = [torch.where(ry > 0, height / ry, torch.inf),
                 torch.where(ry < 0, (height - 6.0) / ry, torch.inf),
                 torch.where(rx > 0, half_width / rx, torch.inf),
                 torch.where(rx < 0, -half_width / rx, torch.inf),
                 torch.full_like(rx, 40.0)]
        expect = torch.stack(cands).min(0).values
    torch.testing.assert_close(depth[0], expect, rtol=1e-12, atol=1e-9)


def test_supersampling_keeps_depth_and_smooths_colour():
    h, w = 24, 64
    k = make_intrinsics(h, w)
    scene = street(1)
    pose = drive(3)[2]
    plain, depth1 = render(scene, pose, k, h, w)
    smooth, depth3 = render(scene, pose, k, h, w, supersample=3)
    assert torch.equal(depth1, depth3)
    assert smooth.shape == plain.shape
    # anti-aliasing lowers pixel-to-pixel variation but keeps the mean colour
    tv = lambda img: (img[..., 1:] - img[..., :-1]).abs().mean()  # noqa: E731
    assert tv(smooth) < tv(plain)
    assert abs(smooth.mean() - plain.mean()) < 0.02


def test_drive_moves_forward_and_is_deterministic():
    poses = drive(10, step=0.5)
    assert len(poses) == 10
    steps = [(b[:3, 3] - a[:3, 3]).norm().item() for a, b in zip(poses, poses[1:])]
    assert all(abs(s - 0.5) < 1e-9 for s in steps)
    assert poses[-1][2, 3] > 4.0
    assert all(torch.equal(a, b) for a, b in zip(poses, drive(10, step=0.5)))
    a, b = street(3), street(3)
    assert a == b and a != street(4)
