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

"""Photo textures (mipmapped, tiling) and the varied training layouts."""

import dataclasses

from conftest import make_intrinsics
from mono_depth_ros.core.geometry import inverse_warp
from mono_depth_ros.sim import textures
from mono_depth_ros.sim.layouts import INDOOR_MIX, VARIED_MIX, varied_scene_and_path
from mono_depth_ros.sim.scene import closed_room, look_transform, render, Scene
import numpy as np
import pytest
import torch


def test_texture_pyramid_levels_are_box_averages():
    levels = textures.bank()[0]
    assert levels[0].shape == (3, textures.TILE, textures.TILE)
    assert levels[-1].shape == (3, 1, 1)
    # every level is the 2x2 mean of the one below, so the last is the photo's mean
    torch.testing.assert_close(levels[-1][:, 0, 0], levels[0].mean((1, 2)))
    torch.testing.assert_close(levels[3][:, 1, 2],
                               levels[0][:, 8:16, 16:24].mean((1, 2)))


def test_sample_hits_texel_centres_tiles_and_blurs_with_footprint():
    levels = textures.bank()[2]
    n = textures.TILE
    tile = 2.0
    # texel (row 5, column 7) centre, at a footprint of one texel: that texel exactly
    a = torch.tensor([(7 + 0.5) / n * tile], dtype=torch.float64)
    b = torch.tensor([(5 + 0.5) / n * tile], dtype=torch.float64)
    one = torch.full((1,), tile / n, dtype=torch.float64)
    torch.testing.assert_close(textures.sample(2, a, b, tile, one)[0], levels[0][:, 5, 7])
    # one tile further along either axis is the same colour (the photo tiles)
    torch.testing.assert_close(textures.sample(2, a + tile, b - 3 * tile, tile, one),
                               textures.sample(2, a, b, tile, one))
    # a pixel that covers the whole tile sees the photo's mean colour
    whole = torch.full((1,), 4 * tile, dtype=torch.float64)
    torch.testing.assert_close(textures.sample(2, a, b, tile, whole)[0],
                               levels[0].mean((1, 2)))


def test_photo_textures_change_colour_not_depth_and_warp_consistently():
    h, w = 48, 96
    k = make_intrinsics(h, w)
    plain = closed_room(far=25.0)
    photo = Scene(tuple(dataclasses.replace(r, photo=i) for i, r in
                        enumerate(plain.rectangles)))
    target, source = look_transform([0, 0, 0]), look_transform([0.2, 0.0, 0.6], yaw=0.04)
    img_p, depth_p = render(plain, target, k, h, w)
    img_t, depth_t = render(photo, target, k, h, w)
    src_t, _ = render(photo, source, k, h, w)
    torch.testing.assert_close(depth_t, depth_p)
    assert (img_t - img_p).abs().mean() > 0.05
    # the true depth and motion explain the photo-textured views (the renderer's sanity
    # check): warping cuts the photometric error several-fold against no warp
    warped, mask = inverse_warp(src_t[None], depth_t[None], (torch.linalg.inv(source)
                                                             @ target)[None], k[None])
    warp_err = ((warped - img_t[None]).abs() * mask).sum() / (3 * mask.sum())
    still_err = ((src_t - img_t).abs() * mask[0]).sum() / (3 * mask.sum())
    assert warp_err < still_err / 3


def test_varied_layouts_are_deterministic_and_differ_by_seed():
    names = set()
    for index in range(len(VARIED_MIX)):
        name, scene, poses = varied_scene_and_path(index, seed=40 + index, frames=12)
        again = varied_scene_and_path(index, seed=40 + index, frames=12)
        other = varied_scene_and_path(index, seed=41 + index, frames=12)
        assert again[1] == scene and torch.equal(again[2], poses)
        assert other[1] != scene
        assert any(r.photo >= 0 for r in scene.rectangles)
        assert poses.shape == (12, 4, 4) and np.isfinite(poses.numpy()).all()
        names.add(name)
    assert len(names) == len(VARIED_MIX)


def test_the_indoor_mix_is_the_varied_mix_indoors_only():
    """'indoor' cycles the shelved spaces alone, each with a ceiling, as 'varied' renders them."""
    assert [entry[0] for entry in INDOOR_MIX] == ['warehouse_walk', 'warehouse_robot']
    for index in range(4):
        name, scene, poses = varied_scene_and_path(index, seed=70 + index, frames=12,
                                                   mix='indoor')
        assert name == INDOOR_MIX[index % 2][0]
        varied_index = [entry[0] for entry in VARIED_MIX].index(name)
        same = varied_scene_and_path(varied_index, seed=70 + index, frames=12)
        assert same[1] == scene and torch.equal(same[2], poses)
        # a ceiling under 6 m: no surface rises higher above the camera (y points down)
        top = min(min(r.origin[1], r.origin[1] + r.axis_u[1], r.origin[1] + r.axis_v[1],
                      r.origin[1] + r.axis_u[1] + r.axis_v[1]) for r in scene.rectangles)
        assert -6.0 < top < 0.0
    with pytest.raises(ValueError, match="unknown scene mix 'forest'"):
        varied_scene_and_path(0, seed=1, frames=12, mix='forest')
