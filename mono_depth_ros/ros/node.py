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

"""depth_node: camera images in; depth, point clouds and odometry out (thin rclpy glue).

All the work happens in :class:`mono_depth_ros.runtime.pipeline.DepthPipeline`; this node
converts messages, calls it once per frame and publishes. Topics (relative, remap in the
launch file):

- subscribes ``image`` (sensor_msgs/Image; or ``image/compressed`` CompressedImage when
  ``compressed`` is true) and ``camera_info``, sensor-data QoS, queue depth 1 (always the
  newest frame, never a backlog);
- publishes ``depth`` (32FC1 metres, NaN = no estimate) and ``depth/camera_info``,
  ``points`` (PointCloud2 xyz + rgb, optical frame), ``odom`` (nav_msgs/Odometry) and the
  ``odom -> camera`` (or ``odom -> base``) transform on ``/tf``;
- services ``~/reset_odometry`` and ``~/save_weights`` (std_srvs/Trigger).

Parameters: :class:`mono_depth_ros.ros.params.NodeConfig`.

May import: rclpy and message packages, :mod:`mono_depth_ros.core`, ``data``, ``runtime``,
``weights`` and this package; never the offline training package.
"""

from __future__ import annotations

import collections
import time
from typing import Optional

from mono_depth_ros.core.camera import intrinsics_matrix, resize_intrinsics
from mono_depth_ros.core.rotation import pose_from_quaternion
from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.messages import compressed_to_rgb, rgb_from_message, stamp_to_ns
from mono_depth_ros.ros.messages import (camera_info_message, depth_message,
                                         intrinsics_from_camera_info, odometry_message,
                                         point_cloud_message, transform_message)
from mono_depth_ros.ros.params import declare_config
from mono_depth_ros.runtime.pipeline import DepthPipeline, FrameResult, upsample_depth
from nav_msgs.msg import Odometry
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

__all__ = ['DepthNode', 'main']


class DepthNode(Node):
    """The depth / point cloud / odometry node (see the module docstring)."""

    def __init__(self, **kwargs) -> None:
        """Declare parameters, load the weights, create endpoints."""
        super().__init__('depth_node', **kwargs)
        self.config = c = declare_config(self)
        self.pipeline = self._load_pipeline()
        if len(c.base_T_camera) != 7:
            raise ValueError(f'base_T_camera needs 7 numbers (x y z qx qy qz qw), got '
                             f'{len(c.base_T_camera)}')
        self.base_T_camera = pose_from_quaternion(c.base_T_camera[:3], c.base_T_camera[3:],
                                                  'base_T_camera')
        self.online = None
        if c.online_training:
            from mono_depth_ros.runtime.online import OnlineTrainer
            self.online = OnlineTrainer(self.pipeline.slot, self.pipeline.metadata,
                                        c.online_save_path or None, c.online_buffer,
                                        lr=c.online_lr, duty=c.online_duty)
            self.online.start()
            self.get_logger().info('online fine-tuning on')
        self.intrinsics: Optional[np.ndarray] = None
        self.info_size = None
        self.frames_in = self.frames_out = 0
        self.latencies = collections.deque(maxlen=1000)  # seconds, the newest frames
        self._create_endpoints()

    def _load_pipeline(self) -> DepthPipeline:
        c = self.config
        try:
            from mono_depth_ros.weights import default_weights
            path = c.weights or str(default_weights())
            pipeline = DepthPipeline(path, c.device, c.depth_scale, c.camera_height or None,
                                     max_depth=c.max_depth)
        except (OSError, ValueError) as err:
            self.get_logger().fatal(f'cannot load weights: {err}')
            raise
        self.get_logger().info(f'loaded {path}: input {pipeline.size[1]}x{pipeline.size[0]}, '
                               f'device {c.device}')
        return pipeline

    def _create_endpoints(self) -> None:
        c = self.config
        image_type = CompressedImage if c.compressed else Image
        topic = 'image/compressed' if c.compressed else 'image'
        self.create_subscription(image_type, topic, self._on_image, qos_profile_sensor_data)
        self.create_subscription(CameraInfo, 'camera_info', self._on_info,
                                 qos_profile_sensor_data)
        self.depth_pub = self.create_publisher(Image, 'depth', 1)
        self.depth_info_pub = self.create_publisher(CameraInfo, 'depth/camera_info', 1)
        self.points_pub = self.create_publisher(PointCloud2, 'points', 1)
        self.odom_pub = self.create_publisher(Odometry, 'odom', 10)
        try:
            from tf2_msgs.msg import TFMessage
            self.tf_pub = self.create_publisher(TFMessage, '/tf', 10)
        except ImportError:
            self.tf_pub = None
            if c.publish_tf:
                self.get_logger().warning('tf2_msgs is not installed: /tf is not published '
                                          '(odom still is)')
        try:
            from std_srvs.srv import Trigger
            self.create_service(Trigger, '~/reset_odometry', self._on_reset)
            self.create_service(Trigger, '~/save_weights', self._on_save)
        except ImportError:
            self.get_logger().warning('std_srvs is not installed: no reset/save services')

    def _warn(self, text: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=self.config.warn_period)

    def _on_info(self, msg: CameraInfo) -> None:
        k = intrinsics_from_camera_info(msg)
        if k is None:
            self._warn('camera_info has no valid K (zero or non-finite focal length); ignored')
            return
        self.intrinsics, self.info_size = k, (msg.height, msg.width)

    def _on_reset(self, request, response):
        self.pipeline.reset()
        if self.online is not None:
            self.online.clear()
        response.success, response.message = True, 'odometry reset'
        return response

    def _on_save(self, request, response):
        if self.online is None:
            response.success, response.message = False, 'online training is off'
            return response
        try:
            response.success, response.message = True, f'saved {self.online.save()}'
        except OSError as err:
            response.success, response.message = False, f'save failed: {err}'
        return response

    def _frame_intrinsics(self, h: int, w: int) -> Optional[np.ndarray]:
        if self.intrinsics is not None:
            if self.info_size != (h, w) and all(self.info_size):
                return resize_intrinsics(self.intrinsics, self.info_size, (h, w))
            return self.intrinsics
        fx, fy, cx, cy = self.config.fallback_intrinsics
        return intrinsics_matrix(fx, fy, cx, cy) if fx > 0 and fy > 0 else None

    def _on_image(self, msg) -> None:
        t0 = time.perf_counter()
        self.frames_in += 1
        try:
            rgb = (compressed_to_rgb(msg) if isinstance(msg, CompressedImage)
                   else rgb_from_message(msg))
            k = self._frame_intrinsics(*rgb.shape[:2])
            if k is None:
                self._warn('no camera_info yet and no fallback_intrinsics: frame skipped')
                return
            result = self.pipeline.process(rgb, stamp_to_ns(msg.header.stamp), k)
        except (DataError, ValueError) as err:
            self._warn(f'skipped a frame: {err}')
            return
        if result.reset:
            self.get_logger().info('odometry (re)started')
        if self.online is not None:
            if result.reset:
                self.online.clear()
            self.online.add_frame(result.image, result.intrinsics)
        self._publish(msg.header, rgb.shape[:2], result)
        self.frames_out += 1
        self.latencies.append(time.perf_counter() - t0)

    def _publish(self, header, input_size, result: FrameResult) -> None:
        c = self.config
        header.frame_id = c.camera_frame or header.frame_id or 'camera_optical_frame'
        if c.publish_depth:
            depth, k = result.depth, result.intrinsics
            if c.output_resolution == 'input' and depth.shape != tuple(input_size):
                depth, k = upsample_depth(depth, k, input_size)
            self.depth_pub.publish(depth_message(depth, header))
            self.depth_info_pub.publish(camera_info_message(k, *depth.shape, header))
        if c.publish_points:
            s = c.points_stride
            points = result.points[::s, ::s].reshape(-1, 3)
            keep = np.isfinite(points).all(1)
            colours = result.colours()[::s, ::s].reshape(-1, 3)
            self.points_pub.publish(point_cloud_message(points[keep], colours[keep], header))
        pose, child = result.odom_T_camera, header.frame_id
        if c.base_frame:
            # odom is the base frame's start; odom_T_base = B odom_T_cam B^-1.
            pose = self.base_T_camera @ pose @ np.linalg.inv(self.base_T_camera)
            child = c.base_frame
        if c.publish_odom:
            self.odom_pub.publish(odometry_message(pose, header.stamp, c.odom_frame, child))
        if c.publish_tf and self.tf_pub is not None:
            tf = transform_message(pose, header.stamp, c.odom_frame, child)
            self.tf_pub.publish(self.tf_pub.msg_type(transforms=[tf]))


def main(args=None) -> None:
    """Run the node until shut down."""
    rclpy.init(args=args)
    node = None
    try:
        node = DepthNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            if node.online is not None:
                node.online.stop(save=True)
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
