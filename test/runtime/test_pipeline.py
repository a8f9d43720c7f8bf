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


"""The node's pure pipeline and message conversions (no DDS needed)."""

import math

from mono_depth_ros.core.inference import pairwise_motions, refined_motions
from mono_depth_ros.core.weights import WeightsError
from mono_depth_ros.runtime.pipeline import DepthPipeline
from mono_depth_ros.runtime.scale import ground_plane_height
from mono_depth_ros.sim.dataset import default_intrinsics
from mono_depth_ros.sim.scene import look_transform, render, street
import numpy as np
import pytest
import torch


def test_ground_plane_height_on_rendered_street():
    """RANSAC on the exact rendered cloud finds the ground 1.65 m below the camera."""
    h, w = 64, 208
    k = default_intrinsics(h, w)
    _, depth = render(street(1), look_transform([0.0, 0.0, 2.0]), torch.from_numpy(k), h, w)
    d = depth[0].numpy()
    v, u = np.mgrid[0:h, 0:w]
    pts = np.stack([(u - k[0, 2]) / k[0, 0] * d, (v - k[1, 2]) / k[1, 1] * d, d], -1)
    height = ground_plane_height(pts.reshape(-1, 3))
    assert height is not None and math.isclose(height, 1.65, rel_tol=0.01)
    assert ground_plane_height(np.zeros((10, 3))) is None


def test_pipeline_depth_odometry_and_resets(weights):
    """Shapes, NaN beyond max_depth, scale applied to depth and translation, resets."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 208, 3), dtype=np.uint8) for _ in range(4)]
    k = default_intrinsics(64, 208)
    base = DepthPipeline(weights, refine_iterations=0)
    refined = DepthPipeline(weights)  # three refinement steps by default
    scaled = DepthPipeline(weights, depth_scale=3.0, max_depth=1e9)
    results = [base.process(f, i * 100, k) for i, f in enumerate(frames)]
    scaled_results = [scaled.process(f, i * 100, k) for i, f in enumerate(frames)]
    first = results[0]
    assert first.reset and not results[1].reset
    assert first.depth.shape == (32, 104) and first.depth.dtype == np.float32
    np.testing.assert_allclose(first.intrinsics[0, 0], k[0, 0] / 2, rtol=1e-9)
    np.testing.assert_array_equal(first.odom_T_camera, np.eye(4))
    # The points are the metric depth back-projected through the result's intrinsics.
    kk = first.intrinsics
    v, u = np.mgrid[0:32, 0:104]
    expect = np.stack([(u - kk[0, 2]) / kk[0, 0] * first.depth,
                       (v - kk[1, 2]) / kk[1, 1] * first.depth, first.depth], -1)
    np.testing.assert_allclose(first.points, expect, rtol=1e-5, atol=1e-6)
    assert first.colours().shape == (32, 104, 3) and first.colours().dtype == np.uint8
    np.testing.assert_allclose(scaled_results[2].depth, 3.0 * results[2].depth, rtol=1e-5)
    # Odometry chains next_T_prev of the ego-motion network: frame t's motion is the last
    # pair of the window (t - 2, t - 1, t).
    with base.slot.use() as (_, ego_net):
        into_2 = pairwise_motions(ego_net, frames[0:3], base.size)[1]
        into_3 = pairwise_motions(ego_net, frames[1:4], base.size)[1]
    expected = results[1].odom_T_camera @ np.linalg.inv(into_2) @ np.linalg.inv(into_3)
    np.testing.assert_allclose(results[3].odom_T_camera, expected, atol=1e-5)
    # With refinement each motion is the network's refined on the previous frame's depth.
    refined_results = [refined.process(f, i * 100, k) for i, f in enumerate(frames)]
    with refined.slot.use() as (depth_net, _):
        steps = refined_motions(depth_net, frames[1:4], np.stack([into_2, into_3]),
                                base.size, first.intrinsics)
    expected = refined_results[1].odom_T_camera @ np.linalg.inv(steps[0]) @ np.linalg.inv(
        steps[1])
    np.testing.assert_allclose(refined_results[3].odom_T_camera, expected, atol=1e-5)
    # Refinement runs in network units, so a scale factor scales its translation too.
    np.testing.assert_allclose(scaled_results[3].odom_T_camera[:3, 3],
                               3.0 * refined_results[3].odom_T_camera[:3, 3], rtol=1e-4,
                               atol=1e-8)
    assert not np.allclose(refined_results[3].odom_T_camera, results[3].odom_T_camera,
                           atol=1e-4)
    capped = DepthPipeline(weights, max_depth=float(np.nanmedian(results[0].depth)))
    capped_result = capped.process(frames[0], 0, k)
    assert np.isnan(capped_result.depth).mean() > 0.3
    # Points carry the same holes as the depth they come from.
    np.testing.assert_array_equal(np.isnan(capped_result.points).any(-1),
                                  np.isnan(capped_result.depth))
    again = base.process(frames[0], 50, k)  # a stamp going back: a bag loop
    assert again.reset and np.array_equal(again.odom_T_camera, np.eye(4))


def test_pipeline_translation_prior(weights):
    """A prior far above the image's pull keeps the network's translation; -1 is refused."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 208, 3), dtype=np.uint8) for _ in range(4)]
    k = default_intrinsics(64, 208)
    held = DepthPipeline(weights, refine_translation_prior=1e6)
    results = [held.process(f, i * 100, k) for i, f in enumerate(frames)]
    with held.slot.use() as (_, ego_net):
        into_3 = pairwise_motions(ego_net, frames[1:4], held.size)[1]
    step = np.linalg.inv(results[2].odom_T_camera) @ results[3].odom_T_camera
    np.testing.assert_allclose(np.linalg.inv(step)[:3, 3], into_3[:3, 3], atol=1e-4)
    free = DepthPipeline(weights, refine_translation_prior=0.0)
    free_results = [free.process(f, i * 100, k) for i, f in enumerate(frames)]
    free_step = np.linalg.inv(free_results[2].odom_T_camera) @ free_results[3].odom_T_camera
    assert not np.allclose(np.linalg.inv(free_step)[:3, 3], into_3[:3, 3], atol=1e-4)
    with pytest.raises(ValueError, match='translation_prior'):
        held.set_refinement(3, -1.0)
    assert held.refine.translation_prior == 1e6


def test_pipeline_sees_what_training_saw_and_numpy_motion_matrix():
    """The network input is training's box-filtered resize; motion_matrix = pose_vec_to_mat.

    Both input paths (the batch one and the pipeline's per-frame numpy one) give it.
    """
    from mono_depth_ros.core.geometry import pose_vec_to_mat
    from mono_depth_ros.core.inference import frame_to_input, frames_to_tensor
    from mono_depth_ros.data.snippets import resize_frame
    from mono_depth_ros.runtime.odometry import motion_matrix

    rng = np.random.default_rng(3)
    k = default_intrinsics(128, 416)
    for shape in ((128, 416), (96, 320), (48, 160)):
        frame = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
        small, _ = resize_frame(frame, k, (48, 160))
        batch = frames_to_tensor([frame], (48, 160))
        assert batch.is_contiguous()  # NCHW: channels-last input slowed the networks 1.5x
        tensor = batch[0]
        np.testing.assert_array_equal(tensor.permute(1, 2, 0).numpy() * 255.0,
                                      small.astype(np.float32))
        # The pipeline's numpy input: the same values, bit for bit, in the same layout.
        array = frame_to_input(frame, (48, 160))
        assert array.dtype == np.float32 and array.flags['C_CONTIGUOUS']
        np.testing.assert_array_equal(array, batch.numpy())
    # Other dtypes keep torch's area filter (values 0..255).
    as_float = frames_to_tensor([frame.astype(np.float32)], (24, 80))
    assert as_float.is_contiguous()
    expect = torch.nn.functional.avg_pool2d(
        torch.from_numpy(frame.astype(np.float32)).permute(2, 0, 1)[None] / 255.0, 2)
    torch.testing.assert_close(as_float, expect)
    vecs = torch.from_numpy(rng.normal(0.0, 0.5, (50, 6)))
    for vec, expect in zip(vecs, pose_vec_to_mat(vecs)):
        np.testing.assert_allclose(motion_matrix(vec.numpy()), expect.numpy(), atol=1e-14)


def test_pipeline_refuses_bad_input(weights, tmp_path):
    """Bad images, intrinsics and weights files give clear errors."""
    pipeline = DepthPipeline(weights)
    k = default_intrinsics(64, 208)
    with pytest.raises(ValueError, match='uint8'):
        pipeline.process(np.zeros((64, 208, 3), np.float32), 0, k)
    with pytest.raises(ValueError, match='intrinsics'):
        pipeline.process(np.zeros((64, 208, 3), np.uint8), 0, np.zeros((3, 3)))
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(WeightsError, match='truncated'):
        DepthPipeline(bad)
    with pytest.raises(ValueError, match='depth_scale'):
        DepthPipeline(weights, depth_scale=0.0)


def test_pipeline_camera_cache_and_points_on_request(weights):
    """The intrinsics and rays kept per camera follow a new calibration; points on request.

    A frame after a good one still has its intrinsics checked, a changed calibration gives
    other intrinsics and rays, and ``points_every(s)`` is every ``s``-th point of the full
    cloud, which stays NaN with the depth.
    """
    pipeline = DepthPipeline(weights, refine_iterations=0)
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (64, 208, 3), dtype=np.uint8) for _ in range(3)]
    k = default_intrinsics(64, 208)
    first = pipeline.process(frames[0], 0, k)
    with pytest.raises(ValueError, match='intrinsics'):
        pipeline.process(frames[1], 1, np.full((3, 3), np.nan))
    wider = k.copy()
    wider[0, 0] *= 1.5
    pipeline.max_depth = float(np.median(first.depth))  # cut about half the pixels
    second = pipeline.process(frames[1], 2, wider)
    np.testing.assert_allclose(second.intrinsics[0, 0], 1.5 * first.intrinsics[0, 0])
    assert not np.allclose(second.rays, first.rays)
    kk = second.intrinsics
    v, u = np.mgrid[0:32, 0:104]
    np.testing.assert_allclose(second.rays[..., 0], (u - kk[0, 2]) / kk[0, 0], rtol=1e-6)
    with pytest.raises(ValueError):
        second.rays[0, 0, 0] = 1.0  # shared by every frame: read only
    full = second.points
    np.testing.assert_array_equal(second.points_every(3), full[::3, ::3])
    holes = np.isnan(second.depth)
    assert holes.any() and (~holes).any()
    np.testing.assert_array_equal(np.isnan(full).all(-1), holes)
    np.testing.assert_array_equal(np.isnan(full).any(-1), holes)
