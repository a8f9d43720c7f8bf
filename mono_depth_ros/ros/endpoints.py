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

"""The depth node's topics, services and timer, and its ``/diagnostics`` status.

QoS: the inputs keep the newest frame only (depth 1), best effort under ``input_qos:
sensor_data`` (REP 2003's sensor-data convention; a late frame is worth nothing) or
reliable under ``input_qos: reliable`` (large images over a lossy link, where best-effort
fragments get lost). The outputs are reliable, depth 1 (odometry 10), volatile; ``/tf_static``
is transient-local (late joiners get it, as tf2's static broadcaster does). Every
subscription and publisher accepts QoS overrides from parameters
(``qos_overrides./topic.subscription.reliability: reliable`` and so on, in the YAML).

May import: rclpy and message packages, :mod:`mono_depth_ros.ros.messages`.
"""

from __future__ import annotations

from mono_depth_ros.ros.messages import diagnostics_message
from nav_msgs.msg import Odometry
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

__all__ = ['create', 'input_qos', 'publish_diagnostics']


def input_qos(kind: str) -> QoSProfile:
    """Return the QoS of the image and camera_info subscriptions for ``input_qos`` = ``kind``."""
    reliability = (ReliabilityPolicy.RELIABLE if kind == 'reliable'
                   else ReliabilityPolicy.BEST_EFFORT)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


def _lost_callbacks(node):
    """Count input messages the middleware reports lost (where the RMW supports it)."""
    from rclpy.event_handler import SubscriptionEventCallbacks

    return SubscriptionEventCallbacks(
        message_lost=lambda info: node.stats.lost_messages(info.total_count_change))


def create(node) -> None:
    """Create the node's subscriptions, publishers, services and housekeeping timer."""
    c = node.config
    overrides = QoSOverridingOptions.with_default_policies()
    image_type = CompressedImage if c.compressed else Image
    topic = 'image/compressed' if c.compressed else 'image'
    qos = input_qos(c.input_qos)
    try:
        node.create_subscription(image_type, topic, node._on_image, qos,
                                 qos_overriding_options=overrides,
                                 event_callbacks=_lost_callbacks(node))
    except NotImplementedError:  # an RMW without the message-lost event
        node.create_subscription(image_type, topic, node._on_image, qos,
                                 qos_overriding_options=overrides)
    node.create_subscription(CameraInfo, 'camera_info', node._on_info, qos,
                             qos_overriding_options=overrides)
    node.depth_pub = node.create_publisher(Image, 'depth', 1, qos_overriding_options=overrides)
    node.depth_info_pub = node.create_publisher(CameraInfo, 'depth/camera_info', 1,
                                                qos_overriding_options=overrides)
    node.points_pub = node.create_publisher(PointCloud2, 'points', 1,
                                            qos_overriding_options=overrides)
    node.odom_pub = node.create_publisher(Odometry, 'odom', 10,
                                          qos_overriding_options=overrides)
    _create_tf(node)
    try:
        from diagnostic_msgs.msg import DiagnosticArray
        node.diagnostics_pub = (node.create_publisher(DiagnosticArray, '/diagnostics', 10)
                                if c.diagnostics_period > 0 else None)
    except ImportError:
        node.diagnostics_pub = None
        node.get_logger().warning('diagnostic_msgs is not installed: no /diagnostics')
    if node.diagnostics_pub is not None or node.online is not None:
        node.create_timer(c.diagnostics_period or 1.0, node.on_timer)
    try:
        from std_srvs.srv import Trigger
        node.create_service(Trigger, '~/reset_odometry', node._on_reset)
        node.create_service(Trigger, '~/save_weights', node._on_save)
    except ImportError:
        node.get_logger().warning('std_srvs is not installed: no reset/save services')


def _create_tf(node) -> None:
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        node.tf_pub = node.tf_static_pub = None
        if node.config.publish_tf:
            node.get_logger().warning('tf2_msgs is not installed: /tf is not published '
                                      '(odom still is)')
        return
    node.tf_pub = node.create_publisher(TFMessage, '/tf', 10)
    latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.tf_static_pub = node.create_publisher(TFMessage, '/tf_static', latched)


def publish_diagnostics(node) -> None:
    """One DiagnosticStatus: rates, latency, skipped frames by cause, online fine-tuning.

    Level WARN when frames were skipped since the last status or fewer than 90 % of the
    input frames come out, ERROR when frames arrive and nothing has come out for 5 s.
    """
    values = node.stats.summary()
    skipped = dict(node.faults.counts)
    level, text = 'OK', 'running'
    new_faults = sum(skipped.values()) - getattr(node, '_faults_reported', 0)
    node._faults_reported = sum(skipped.values())
    if values['input_rate_hz'] > 0 and values['seconds_since_output'] > 5.0:
        level, text = 'ERROR', 'frames arrive, no output for 5 s'
    elif new_faults > 0:
        level, text = 'WARN', f'{new_faults} frame(s) or camera_info message(s) skipped'
    elif values['output_rate_hz'] < 0.9 * values['input_rate_hz']:
        level, text = 'WARN', 'falling behind the input rate'
    values.update({f'skipped_{kind}': n for kind, n in sorted(skipped.items())})
    values['skipped_total'] = sum(skipped.values())
    if node.online is not None:
        values.update(online_steps=node.online.steps, online_swaps=node.online.swaps,
                      online_reverts=node.online.reverts)
    values.update(threads=node.config.threads, device=node.config.device)
    node.diagnostics_pub.publish(diagnostics_message(
        node.get_clock().now().to_msg(), f'{node.get_name()}: depth pipeline',
        node.config.camera_frame or 'camera', level, text, values))
