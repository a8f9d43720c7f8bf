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

"""Fault throttling, frame statistics, twist, and the pipeline's frame rules."""

import math

from mono_depth_ros.core.rotation import pose_from_angles
from mono_depth_ros.runtime.health import FaultLog, FrameStats
from mono_depth_ros.runtime.odometry import twist_from_poses
from mono_depth_ros.runtime.pipeline import DepthPipeline, FrameRejected
import numpy as np
import pytest
from scipy.spatial.transform import Rotation


class Clock:
    """A settable clock."""

    def __init__(self):
        """Start at 0 s."""
        self.now = 0.0

    def __call__(self):
        """Return the time."""
        return self.now


def test_fault_log_throttles_each_kind_on_its_own():
    """One kind's flood never hides another; the next warning counts what was held back."""
    clock = Clock()
    log = FaultLog(5.0, clock)
    assert log.report('decode', 'bad png') == 'bad png'
    assert log.report('decode', 'bad png') is None
    assert log.report('layout', 'short data') == 'short data'  # not hidden by decode's
    clock.now = 4.9
    assert log.report('decode', 'x') is None
    clock.now = 5.0
    assert log.report('decode', 'bad jpeg') == ('bad jpeg (2 more of this kind since the '
                                                'last warning)')
    assert dict(log.counts) == {'decode': 4, 'layout': 1}
    assert FaultLog(0.0, clock).report('a', 't') == 't'


def test_frame_stats_rates_and_percentiles():
    """30 Hz in, every other frame out: rates 30 and 15 Hz; latency percentiles of 1..100."""
    clock = Clock()
    stats = FrameStats(window=5.0, clock=clock)
    for i in range(100):
        clock.now = i / 30
        stats.received()
        if i % 2 == 0:
            stats.published((i + 1) * 1e-3)
    s = stats.summary()
    assert s['input_rate_hz'] == pytest.approx(30.0)
    assert s['output_rate_hz'] == pytest.approx(15.0)
    lat = np.arange(1, 101, 2, dtype=float)
    assert s['latency_p50_ms'] == pytest.approx(np.percentile(lat, 50))
    assert s['latency_p99_ms'] == pytest.approx(np.percentile(lat, 99))
    assert (s['frames_in'], s['frames_out']) == (100, 50)
    clock.now = 100.0
    assert stats.summary()['input_rate_hz'] == 0.0  # nothing in the window


def test_twist_closed_form():
    """Forward at 2 m/s while yawing 0.3 rad/s: v = (0, 0, 2) in the camera, w about -y."""
    dt = 0.1
    yaw = 0.3 * dt
    previous = pose_from_angles([1.0, 0.0, 5.0], yaw=0.2)
    motion = np.eye(4)
    motion[:3, :3] = Rotation.from_rotvec([0.0, -yaw, 0.0]).as_matrix()
    motion[:3, 3] = motion[:3, :3] @ [0.0, 0.0, 2.0 * dt]  # the step, seen from the end
    twist = twist_from_poses(previous, previous @ motion, dt)
    np.testing.assert_allclose(twist[:3], [0.0, 0.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(twist[3:], [0.0, -0.3, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match='positive'):
        twist_from_poses(previous, previous, 0.0)


def _frame(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def _k(h, w):
    return np.array([[0.6 * w, 0, w / 2], [0, 0.6 * w, h / 2], [0, 0, 1.0]])


def test_pipeline_resets_on_size_change_and_skips_repeated_stamps(weights):
    """A new input size restarts odometry; a repeated stamp is rejected, nothing changes."""
    pipeline = DepthPipeline(weights)
    first = pipeline.process(_frame(64, 208, 0), 0, _k(64, 208))
    assert first.reset
    moved = pipeline.process(_frame(64, 208, 1), 100, _k(64, 208))
    assert not moved.reset and not np.allclose(moved.odom_T_camera, np.eye(4))
    with pytest.raises(FrameRejected) as err:
        pipeline.process(_frame(64, 208, 2), 100, _k(64, 208))
    assert err.value.kind == 'duplicate_stamp'
    same = pipeline.process(_frame(64, 208, 3), 200, _k(64, 208))
    assert not same.reset
    other = pipeline.process(_frame(96, 320, 4), 300, _k(96, 320))
    assert other.reset and np.allclose(other.odom_T_camera, np.eye(4))
    with pytest.raises(FrameRejected) as err:
        pipeline.process(_frame(96, 320, 4), 400, np.zeros((3, 3)))
    assert err.value.kind == 'intrinsics'


def test_set_scale_applies_and_rejects(weights):
    """A new depth_scale doubles the depth; a bad one raises and the old scale stays."""
    pipeline = DepthPipeline(weights)
    base = pipeline.process(_frame(64, 208, 0), 0, _k(64, 208)).depth
    pipeline.set_scale(2.0)
    doubled = pipeline.process(_frame(64, 208, 0), 1, _k(64, 208)).depth
    np.testing.assert_allclose(doubled, 2 * base, rtol=1e-5)
    with pytest.raises(ValueError, match='depth_scale'):
        pipeline.set_scale(-1.0)
    again = pipeline.process(_frame(64, 208, 0), 2, _k(64, 208)).depth
    np.testing.assert_allclose(again, 2 * base, rtol=1e-5)
    assert math.isfinite(float(np.nanmax(again)))
