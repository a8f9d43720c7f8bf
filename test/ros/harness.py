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


"""The in-process test harness: depth_node and a client node on one executor."""

import time

from mono_depth_ros.data.messages import fill_rgb_message
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from nav_msgs.msg import Odometry  # noqa: E402, I100
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import (CameraInfo, CompressedImage, Image,  # noqa: E402
                             PointCloud2)

_DTYPES = {7: '<f4', 6: '<u4', 8: '<f8'}  # PointField datatype codes (sensor_msgs spec)


def read_cloud(msg):
    """Decode a PointCloud2 from its declared fields (the message spec, nothing else)."""
    dtype = np.dtype({'names': [f.name for f in msg.fields],
                      'formats': [_DTYPES[f.datatype] for f in msg.fields],
                      'offsets': [f.offset for f in msg.fields], 'itemsize': msg.point_step})
    return np.frombuffer(bytes(msg.data), dtype=dtype, count=msg.width * msg.height)


class Harness:
    """The node plus a client node on one executor, collecting the node's outputs."""

    def __init__(self, weights, **params):
        """Start rclpy, the node (with ``params``) and the client."""
        from mono_depth_ros.ros.node import DepthNode

        rclpy.init()
        overrides = [Parameter('weights', value=str(weights))] + [
            Parameter(k, value=v) for k, v in params.items()]
        self.node = DepthNode(parameter_overrides=overrides)
        self.client = rclpy.create_node('test_client')
        self.got = {}
        for name, kind in (('depth', Image), ('depth/camera_info', CameraInfo),
                           ('points', PointCloud2), ('odom', Odometry)):
            self.client.create_subscription(
                kind, name, lambda m, n=name: self.got.setdefault(n, []).append(m), 10)
        self.image_pub = self.client.create_publisher(Image, 'image', 10)
        self.compressed_pub = self.client.create_publisher(CompressedImage,
                                                           'image/compressed', 10)
        self.info_pub = self.client.create_publisher(CameraInfo, 'camera_info', 10)
        self.executor = rclpy.executors.SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self.spin(0.5)

    def spin(self, seconds):
        """Spin both nodes for ``seconds``."""
        end = time.time() + seconds
        while time.time() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def send_info(self, h=64, w=208):
        """Publish a CameraInfo for an ``h x w`` image (f = 0.6 w)."""
        info = CameraInfo()
        info.height, info.width = h, w
        info.k = [0.6 * w, 0.0, (w - 1) / 2, 0.0, 0.6 * w, (h - 1) / 2, 0.0, 0.0, 1.0]
        self.info_pub.publish(info)

    def send(self, msg, sec, wait=1.5):
        """Publish ``msg`` stamped ``sec`` and wait until a depth image with it arrives."""
        msg.header.stamp.sec = sec
        msg.header.frame_id = 'cam_optical'
        before = len(self.got.get('depth', []))
        (self.compressed_pub if isinstance(msg, CompressedImage) else self.image_pub).publish(
            msg)
        end = time.time() + wait
        while time.time() < end and len(self.got.get('depth', [])) == before:
            self.executor.spin_once(timeout_sec=0.02)
        arrived = len(self.got.get('depth', [])) > before
        if arrived:
            self.spin(0.2)  # the frame's other outputs
        return arrived

    def close(self):
        """Shut everything down."""
        self.node.destroy_node()
        self.client.destroy_node()
        rclpy.try_shutdown()


def _image(encoding='rgb8', h=64, w=208, seed=0):
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    msg = fill_rgb_message(Image(), rgb)
    if encoding == 'bgr8':
        msg = fill_rgb_message(Image(), rgb, 'bgr8')
    elif encoding in ('mono8', 'rgba8', 'bgra8'):
        channels = {'mono8': rgb[..., :1], 'rgba8': np.dstack([rgb, rgb[..., :1]]),
                    'bgra8': np.dstack([rgb[..., ::-1], rgb[..., :1]])}[encoding]
        msg.encoding, msg.step = encoding, w * channels.shape[2]
        msg.data = np.ascontiguousarray(channels).tobytes()
    return msg
