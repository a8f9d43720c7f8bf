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

All the work happens in :class:`mono_depth_ros.pipeline.DepthPipeline`; this node converts
messages, calls it once per frame and publishes. Topics (relative, remap in the launch file):

- subscribes ``image`` (sensor_msgs/Image; or ``image/compressed`` CompressedImage when
  ``compressed`` is true) and ``camera_info``, sensor-data QoS, queue depth 1 (always the
  newest frame, never a backlog);
- publishes ``depth`` (32FC1 metres, NaN = no estimate) and ``depth/camera_info``,
  ``points`` (PointCloud2 xyz + rgb, optical frame), ``odom`` (nav_msgs/Odometry) and the
  ``odom -> camera`` (or ``odom -> base``) transform on ``/tf``;
- services ``~/reset_odometry`` and ``~/save_weights`` (std_srvs/Trigger).
"""

from __future__ import annotations

import time
from typing import Optional

from geometry_msgs.msg import TransformStamped
from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.images import compressed_to_rgb, rgb_from_message
from mono_depth_ros.pipeline import DepthPipeline, FrameResult
from mono_depth_ros.ros.conversions import (camera_info_message, depth_message,
                                            intrinsics_from_camera_info, matrix_to_quaternion,
                                            point_cloud_message)
from nav_msgs.msg import Odometry
import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

__all__ = ['DepthNode', 'main']


def _tf_message_type():
    try:
        from tf2_msgs.msg import TFMessage
        return TFMessage
    except ImportError:
        return None


class DepthNode(Node):
    """The depth / point cloud / odometry node (see the module docstring)."""

    def __init__(self, **kwargs) -> None:
        """Declare parameters, load the weights, create endpoints."""
        super().__init__('depth_node', **kwargs)
        p = self._declare
        weights = p('weights', '', 'weights file (.safetensors); empty = the shipped default',
                    read_only=True)
        device = p('device', 'cpu', "'cpu' or 'cuda'", read_only=True)
        self.depth_scale = p('depth_scale', 1.0, 'metres per network depth unit',
                             floating=(1e-6, 1e6))
        camera_height = p('camera_height', 0.0, 'if > 0: metres from the camera to the '
                          'ground; fixes the monocular scale from a fitted ground plane',
                          floating=(0.0, 100.0))
        self.max_depth = p('max_depth', 80.0, 'depths beyond this become NaN (metres)',
                           floating=(0.1, 1000.0))
        self.output_resolution = p('output_resolution', 'input',
                                   "'input' (the camera's size) or 'network'")
        self.publish_depth = p('publish_depth', True, 'publish depth and depth/camera_info')
        self.publish_points = p('publish_points', True, 'publish the point cloud')
        self.publish_odom = p('publish_odom', True, 'publish odometry')
        self.publish_tf = p('publish_tf', True, 'broadcast odom -> camera (or base) on /tf')
        self.points_stride = p('points_stride', 2, 'keep every n-th pixel in rows and columns',
                               integer=(1, 64))
        self.odom_frame = p('odom_frame', 'odom', 'odometry frame (REP 105)')
        self.camera_frame = p('camera_frame', '', 'optical frame of the camera; empty = the '
                              "image's header.frame_id")
        self.base_frame = p('base_frame', '', 'if set, odometry is published for this frame '
                            'through the static extrinsic base_T_camera')
        extrinsic = p('base_T_camera', [0.0, 0.0, 0.0, -0.5, 0.5, -0.5, 0.5],
                      'x y z qx qy qz qw of the camera optical frame in base_frame')
        self.fallback = p('fallback_intrinsics', [0.0, 0.0, 0.0, 0.0],
                          'fx fy cx cy used until camera_info arrives (zeros: wait)')
        compressed = p('compressed', False, 'subscribe to image/compressed instead of image',
                       read_only=True)
        self.warn_period = p('warn_period', 5.0, 'seconds between repeated warnings',
                             floating=(0.0, 3600.0))
        online = p('online_training', False, 'fine-tune the networks on the incoming video '
                   'in a background thread', read_only=True)
        online_lr = p('online_lr', 1e-4, 'learning rate of online fine-tuning',
                      floating=(1e-8, 1.0), read_only=True)
        online_buffer = p('online_buffer', 30, 'frames kept for online fine-tuning',
                          integer=(4, 10000), read_only=True)
        online_duty = p('online_duty', 0.5, 'largest share of time spent fine-tuning',
                        floating=(0.01, 1.0), read_only=True)
        online_save = p('online_save_path', '', 'where adapted weights are saved (service '
                        '~/save_weights and shutdown); empty = do not save on shutdown',
                        read_only=True)
        self.online = None
        try:
            from mono_depth_ros.models import default_weights
            path = weights or str(default_weights())
            self.pipeline = DepthPipeline(path, device, self.depth_scale,
                                          camera_height or None, max_depth=self.max_depth)
        except (OSError, ValueError) as err:
            self.get_logger().fatal(f'cannot load weights: {err}')
            raise
        self.get_logger().info(
            f'loaded {path}: input {self.pipeline.size[1]}x{self.pipeline.size[0]}, '
            f'device {device}')
        self.base_T_camera = self._extrinsic(extrinsic)
        if online:
            from mono_depth_ros.online import OnlineTrainer
            self.online = OnlineTrainer(self.pipeline, online_save or None,
                                        buffer_size=online_buffer, lr=online_lr,
                                        duty=online_duty)
            self.online.start()
            self.get_logger().info('online fine-tuning on')
        self.intrinsics: Optional[np.ndarray] = None
        self.info_size = None
        self.frames_in = 0
        self.frames_out = 0
        self.latencies = []
        image_type = CompressedImage if compressed else Image
        topic = 'image/compressed' if compressed else 'image'
        self.create_subscription(image_type, topic, self._on_image, qos_profile_sensor_data)
        self.create_subscription(CameraInfo, 'camera_info', self._on_info,
                                 qos_profile_sensor_data)
        self.depth_pub = self.create_publisher(Image, 'depth', 1)
        self.depth_info_pub = self.create_publisher(CameraInfo, 'depth/camera_info', 1)
        self.points_pub = self.create_publisher(PointCloud2, 'points', 1)
        self.odom_pub = self.create_publisher(Odometry, 'odom', 10)
        tf_type = _tf_message_type()
        self.tf_pub = self.create_publisher(tf_type, '/tf', 10) if tf_type else None
        if self.publish_tf and tf_type is None:
            self.get_logger().warning('tf2_msgs is not installed: /tf is not published '
                                      '(odom still is)')
        try:
            from std_srvs.srv import Trigger
            self.create_service(Trigger, '~/reset_odometry', self._on_reset)
            self.create_service(Trigger, '~/save_weights', self._on_save)
        except ImportError:
            self.get_logger().warning('std_srvs is not installed: no reset/save services')

    def _declare(self, name, default, description, read_only=False, floating=None,
                 integer=None):
        descriptor = ParameterDescriptor(description=description, read_only=read_only)
        if floating is not None:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(floating[0]), to_value=float(floating[1]))]
        if integer is not None:
            descriptor.integer_range = [IntegerRange(from_value=integer[0],
                                                     to_value=integer[1], step=1)]
        return self.declare_parameter(name, default, descriptor).value

    def _extrinsic(self, values) -> np.ndarray:
        from scipy.spatial.transform import Rotation

        values = list(values)
        if len(values) != 7:
            raise ValueError(f'base_T_camera needs 7 numbers (x y z qx qy qz qw), got '
                             f'{len(values)}')
        out = np.eye(4)
        out[:3, :3] = Rotation.from_quat(values[3:]).as_matrix()
        out[:3, 3] = values[:3]
        return out

    def _warn(self, text: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=self.warn_period)

    def _on_info(self, msg: CameraInfo) -> None:
        k = intrinsics_from_camera_info(msg)
        if k is None:
            self._warn('camera_info has no valid K (zero or non-finite focal length); '
                       'ignored')
            return
        self.intrinsics = k
        self.info_size = (msg.height, msg.width)

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
            path = self.online.save()
        except OSError as err:
            response.success, response.message = False, f'save failed: {err}'
            return response
        response.success, response.message = True, f'saved {path}'
        return response

    def _frame_intrinsics(self, h: int, w: int) -> Optional[np.ndarray]:
        if self.intrinsics is not None:
            ih, iw = self.info_size
            if (ih, iw) != (h, w) and ih and iw:
                k = self.intrinsics.copy()
                k[0] *= w / iw
                k[1] *= h / ih
                return k
            return self.intrinsics
        fx, fy, cx, cy = self.fallback
        if fx > 0 and fy > 0:
            return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
        return None

    def _on_image(self, msg) -> None:
        t0 = time.perf_counter()
        self.frames_in += 1
        try:
            if isinstance(msg, CompressedImage):
                rgb = compressed_to_rgb(msg)
            else:
                rgb = rgb_from_message(msg)
        except DataError as err:
            self._warn(f'skipped a frame: {err}')
            return
        k = self._frame_intrinsics(*rgb.shape[:2])
        if k is None:
            self._warn('no camera_info yet and no fallback_intrinsics: frame skipped')
            return
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        try:
            result = self.pipeline.process(rgb, stamp, k)
        except ValueError as err:
            self._warn(f'skipped a frame: {err}')
            return
        if result.reset:
            self.get_logger().info('odometry (re)started')
        if self.online is not None:
            if result.reset:
                self.online.clear()
            self.online.add_frame(result.image, result.intrinsics)
        self._publish(msg.header, rgb, result)
        self.frames_out += 1
        self.latencies.append(time.perf_counter() - t0)

    def _publish(self, header, rgb: np.ndarray, result: FrameResult) -> None:
        frame = self.camera_frame or header.frame_id or 'camera_optical_frame'
        header.frame_id = frame
        depth, k = result.depth, result.intrinsics
        if self.output_resolution == 'input' and depth.shape != rgb.shape[:2]:
            depth, k = _resize_depth(depth, k, rgb.shape[:2])
        if self.publish_depth:
            self.depth_pub.publish(depth_message(depth, header))
            self.depth_info_pub.publish(camera_info_message(k, *depth.shape, header))
        if self.publish_points:
            s = self.points_stride
            d = result.depth[::s, ::s]
            v, u = np.mgrid[0:result.depth.shape[0]:s, 0:result.depth.shape[1]:s]
            kk = result.intrinsics
            pts = np.stack([(u - kk[0, 2]) / kk[0, 0] * d, (v - kk[1, 2]) / kk[1, 1] * d, d],
                           -1).reshape(-1, 3)
            colours = result.image[::s, ::s].reshape(-1, 3)
            keep = np.isfinite(pts).all(1)
            self.points_pub.publish(point_cloud_message(pts[keep], colours[keep], header))
        pose = result.odom_T_camera
        child = frame
        if self.base_frame:
            # odom is the base frame's start; odom_T_base = B odom_T_cam B^-1.
            pose = self.base_T_camera @ pose @ np.linalg.inv(self.base_T_camera)
            child = self.base_frame
        quat = matrix_to_quaternion(pose[:3, :3])
        if self.publish_odom:
            odom = Odometry()
            odom.header.stamp = header.stamp
            odom.header.frame_id = self.odom_frame
            odom.child_frame_id = child
            p = odom.pose.pose.position
            p.x, p.y, p.z = (float(v) for v in pose[:3, 3])
            o = odom.pose.pose.orientation
            o.x, o.y, o.z, o.w = quat
            self.odom_pub.publish(odom)
        if self.publish_tf and self.tf_pub is not None:
            tf = TransformStamped()
            tf.header.stamp = header.stamp
            tf.header.frame_id = self.odom_frame
            tf.child_frame_id = child
            t = tf.transform.translation
            t.x, t.y, t.z = (float(v) for v in pose[:3, 3])
            r = tf.transform.rotation
            r.x, r.y, r.z, r.w = quat
            self.tf_pub.publish(self.tf_pub.msg_type(transforms=[tf]))


def _resize_depth(depth: np.ndarray, k: np.ndarray, size):
    """Nearest-neighbour upsampling (keeps NaN holes); intrinsics scaled to match."""
    h, w = depth.shape
    out_h, out_w = size
    rows = np.minimum(((np.arange(out_h) + 0.5) * h / out_h).astype(int), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * w / out_w).astype(int), w - 1)
    k2 = k.copy()
    sx, sy = out_w / w, out_h / h
    k2[0, 0] *= sx
    k2[1, 1] *= sy
    k2[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k2[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return depth[rows][:, cols], k2


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
