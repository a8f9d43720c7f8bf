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

"""depth_node at run time: parameters, per-kind warnings, diagnostics, static TF, twist."""

from mono_depth_ros.data.messages import depth_from_message
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from harness import _image, Harness, read_cloud  # noqa: E402, I100
from rclpy.parameter import Parameter  # noqa: E402


def _set(h, **values):
    return [r.successful for r in h.node.set_parameters(
        [Parameter(k, value=v) for k, v in values.items()])]


def test_parameters_apply_at_run_time(harness):
    """Stride, points on/off, depth_scale and max_depth change the next frame's outputs."""
    h = harness
    h.send_info()
    h.spin(0.3)
    assert h.send(_image(seed=1), sec=1)
    depth1 = depth_from_message(h.got['depth'][-1])
    assert len(read_cloud(h.got['points'][-1])) == 16 * 52  # stride 2 of 32x104
    assert _set(h, points_stride=4, depth_scale=2.0) == [True, True]
    assert h.send(_image(seed=1), sec=2)
    assert len(read_cloud(h.got['points'][-1])) == 8 * 26
    np.testing.assert_allclose(depth_from_message(h.got['depth'][-1]), 2 * depth1, rtol=1e-5)
    cap = float(np.nanmedian(2 * depth1))  # about half the pixels beyond it
    assert _set(h, publish_points=False, max_depth=cap) == [True, True]
    n_points = len(h.got['points'])
    assert h.send(_image(seed=1), sec=3)
    assert len(h.got['points']) == n_points
    capped = depth_from_message(h.got['depth'][-1])
    assert np.nanmax(capped) <= cap and 0.2 < np.isnan(capped).mean() < 0.8
    # Refused: a bad choice (with the reason), a read-only parameter; nothing changes.
    result = h.node.set_parameters([Parameter('output_resolution', value='bogus')])[0]
    assert not result.successful and 'output_resolution' in result.reason
    assert _set(h, weights='other.safetensors', device='cuda') == [False, False]
    assert h.node.config.output_resolution == 'input'
    assert _set(h, pose_refinement_iterations=5, pose_refinement_translation_prior=0.5) == [
        True, True]
    assert (h.node.pipeline.refine.iterations, h.node.pipeline.refine.translation_prior) == (
        5, 0.5)
    assert _set(h, pose_refinement_translation_prior=-1.0) == [False]
    assert h.node.pipeline.refine.translation_prior == 0.5
    assert _set(h, threads=2) == [True]
    import torch
    assert torch.get_num_threads() == 2
    _set(h, threads=1)


def test_one_warning_per_kind_and_diagnostics(weights):
    """Repeated faults of three kinds: one /rosout warning each; /diagnostics counts them."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rcl_interfaces.msg import Log
    from sensor_msgs.msg import CameraInfo

    h = Harness(weights, warn_period=30.0)
    try:
        logs, diags = [], []
        h.client.create_subscription(Log, '/rosout', logs.append, 100)
        h.client.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 10)
        h.send_info()
        h.spin(0.3)
        for i in range(3):
            bad = _image()
            bad.encoding = 'yuv422'
            assert not h.send(bad, sec=10 + i, wait=0.3)
            short = _image()
            short.data = bytes(short.data)[:100]
            assert not h.send(short, sec=20 + i, wait=0.3)
            info = CameraInfo(height=64, width=208)
            info.k = [100.0, 0.0, 1e300, 0.0, 100.0, 30.0, 0.0, 0.0, 1.0]
            h.info_pub.publish(info)
        assert h.send(_image(seed=5), sec=30)
        assert not h.send(_image(seed=6), sec=30, wait=0.5)  # the same stamp again
        h.spin(1.5)
        warnings = [m.msg for m in logs if m.name == 'depth_node' and m.level == 30]
        for kind in ('encoding', 'layout', 'camera_info', 'duplicate_stamp'):
            assert len([w for w in warnings if w.startswith(f'[{kind}]')]) == 1, warnings
        values = {kv.key: kv.value for kv in diags[-1].status[0].values}
        assert values['skipped_encoding'] == '3' and values['skipped_layout'] == '3'
        assert values['skipped_camera_info'] == '3'
        assert values['skipped_duplicate_stamp'] == '1'
        assert int(values['frames_out']) == 1 and int(values['frames_in']) == 8
    finally:
        h.close()


def test_static_tf_covariance_and_twist(weights):
    """base_frame: base -> camera latched on /tf_static; odometry has twist and covariance."""
    from tf2_msgs.msg import TFMessage

    from rclpy.qos import DurabilityPolicy, QoSProfile

    h = Harness(weights, base_frame='base_link',
                pose_covariance_diagonal=[0.1, 0.2, 0.3, 0.01, 0.02, 0.03])
    try:
        h.send_info()
        h.spin(0.3)
        for sec in (1, 2, 3):
            assert h.send(_image(seed=sec), sec=sec)
        statics = []
        late = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        h.client.create_subscription(TFMessage, '/tf_static', statics.append, late)
        h.spin(1.0)  # a late joiner still gets the latched transform
        tf = statics[-1].transforms[0]
        assert (tf.header.frame_id, tf.child_frame_id) == ('base_link', 'cam_optical')
        assert (tf.transform.rotation.x, tf.transform.rotation.w) == (-0.5, 0.5)
        odom = h.got['odom'][-1]
        cov = np.array(odom.pose.covariance).reshape(6, 6)
        np.testing.assert_allclose(np.diag(cov), [0.1, 0.2, 0.3, 0.01, 0.02, 0.03])
        assert np.count_nonzero(cov) == 6
        assert np.diag(np.array(odom.twist.covariance).reshape(6, 6)).min() > 0
        twist = odom.twist.twist
        speed = np.linalg.norm([twist.linear.x, twist.linear.y, twist.linear.z])
        assert speed > 0  # moved between frames one second apart
    finally:
        h.close()


def test_input_qos_and_qos_overrides(weights):
    """input_qos picks the subscriptions' reliability; a qos_overrides parameter wins."""
    from rclpy.qos import ReliabilityPolicy

    h = Harness(weights, input_qos='reliable')
    try:
        subs = h.client.get_subscriptions_info_by_topic('/image')
        assert [s.qos_profile.reliability for s in subs] == [ReliabilityPolicy.RELIABLE]
    finally:
        h.close()
    h = Harness(weights, **{'qos_overrides./camera_info.subscription.reliability': 'reliable'})
    try:
        image = h.client.get_subscriptions_info_by_topic('/image')
        info = h.client.get_subscriptions_info_by_topic('/camera_info')
        assert [s.qos_profile.reliability for s in image] == [ReliabilityPolicy.BEST_EFFORT]
        assert [s.qos_profile.reliability for s in info] == [ReliabilityPolicy.RELIABLE]
    finally:
        h.close()


def test_online_progress_is_logged(harness):
    """Swaps, reverts and every hundred steps of online fine-tuning reach the log."""
    from types import SimpleNamespace

    from rcl_interfaces.msg import Log

    logs = []
    harness.client.create_subscription(Log, '/rosout', logs.append, 100)
    harness.spin(0.3)
    harness.node.online = SimpleNamespace(steps=0, swaps=0, reverts=0)
    harness.node.on_timer()
    harness.node.online = SimpleNamespace(steps=120, swaps=1, reverts=1)
    harness.node.on_timer()
    harness.node.on_timer()  # nothing new: nothing more is logged
    harness.spin(0.5)
    lines = [m.msg for m in logs if m.name == 'depth_node' and 'online' in m.msg]
    assert len(lines) == 3, lines
    assert any('swapped in (1 swaps' in line for line in lines)
    assert any('reverted (1 reverts' in line for line in lines)
    assert any('120 steps, 1 swaps, 1 reverts' in line for line in lines)
    harness.node.online = None
