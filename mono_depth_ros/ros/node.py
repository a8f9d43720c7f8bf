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
  ``compressed`` is true) and ``camera_info``, queue depth 1 (always the newest frame,
  never a backlog), QoS from ``input_qos`` and the ``qos_overrides.*`` parameters;
- publishes ``depth`` (32FC1 metres, NaN = no estimate) and ``depth/camera_info``,
  ``points`` (PointCloud2 xyz + rgb, optical frame), ``odom`` (nav_msgs/Odometry with
  twist and covariances), the ``odom -> camera`` (or ``odom -> base``) transform on ``/tf``,
  ``base -> camera`` on ``/tf_static`` when ``base_frame`` is set, and ``/diagnostics``;
- services ``~/reset_odometry`` and ``~/save_weights`` (std_srvs/Trigger).

A frame that cannot be used is skipped with a warning, throttled per kind of fault
(:class:`~mono_depth_ros.runtime.health.FaultLog`) and counted in ``/diagnostics``; the
node never stops on a message. Parameters: :class:`mono_depth_ros.ros.params.NodeConfig`;
those not read-only apply at run time.

May import: rclpy and message packages, :mod:`mono_depth_ros.core`, ``data``, ``runtime``,
``weights`` and this package; never the offline training package.
"""

from __future__ import annotations

import array
import dataclasses
import gc
import sys
import time
from typing import Optional

from mono_depth_ros.core.camera import intrinsics_matrix, resize_intrinsics
from mono_depth_ros.core.rotation import pose_from_quaternion
from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.messages import compressed_to_rgb, rgb_from_message, stamp_to_ns
from mono_depth_ros.ros import endpoints
from mono_depth_ros.ros.messages import (camera_info_message, depth_message,
                                         intrinsics_from_camera_info, odometry_message,
                                         point_cloud_message, transform_message)
from mono_depth_ros.ros.params import check_config, declare_config, NodeConfig
from mono_depth_ros.runtime.health import FaultLog, FrameStats
from mono_depth_ros.runtime.odometry import twist_from_poses
from mono_depth_ros.runtime.pipeline import (DepthPipeline, FrameRejected, FrameResult,
                                             resolve_backend, upsample_depth)
from mono_depth_ros.runtime.threads import set_threads, TORCH_DEFAULT_THREADS
import numpy as np
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage
import torch

__all__ = ['DepthNode', 'main']


class DepthNode(Node):
    """The depth / point cloud / odometry node (see the module docstring)."""

    def __init__(self, **kwargs) -> None:
        """Declare and check parameters, load the weights, create endpoints.

        Raises:
            ValueError: a parameter that cannot work (the text names it), weights that do
                not load, a CUDA device that is not there.

        """
        super().__init__('depth_node', **kwargs)
        self.config = c = declare_config(self)
        check_config(c)
        set_threads(c.threads)
        self.pipeline = self._load_pipeline()
        self.base_T_camera = self._base_T_camera(c)
        self.faults = FaultLog(c.warn_period)
        self.stats = FrameStats()
        self.online = None
        if c.online_training:
            from mono_depth_ros.runtime.online import OnlineTrainer
            self.online = OnlineTrainer(self.pipeline.slot, self.pipeline.metadata,
                                        c.online_save_path or None, c.online_buffer,
                                        lr=c.online_lr, duty=c.online_duty,
                                        adapt_batch_norm=c.online_adapt_batch_norm,
                                        depth_lr_scale=c.online_depth_lr_scale)
            self.online.start()
            self.get_logger().info('online fine-tuning on')
            if not c.camera_height:
                self.get_logger().warning(
                    'online fine-tuning can move the network depth unit away from the '
                    "fixed scale's; set camera_height for a metric scale that follows it")
        self.intrinsics: Optional[np.ndarray] = None
        self.info_size = None
        # The latest image that came before any camera_info (the two topics race at start):
        # it is processed as soon as the intrinsics arrive instead of being lost.
        self._waiting = None
        self._last_odom = None  # (stamp ns, pose) of the previous published frame
        self._static_sent = None  # (parent, child, pose) last put on /tf_static
        self._online_seen = (0, 0, 0)
        endpoints.create(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    @staticmethod
    def _base_T_camera(c: NodeConfig) -> np.ndarray:
        return pose_from_quaternion(c.base_T_camera[:3], c.base_T_camera[3:], 'base_T_camera')

    def _load_pipeline(self) -> DepthPipeline:
        c = self.config
        if c.device.startswith('cuda') and not torch.cuda.is_available():
            raise ValueError(f'device {c.device!r}: this torch {torch.__version__} sees no '
                             f'CUDA device; use device:=cpu')
        from mono_depth_ros.weights import resolve_weights
        path = resolve_weights(c.weights)
        backend = resolve_backend(c.backend, c.device, c.online_training)
        pipeline = DepthPipeline(path, c.device, c.depth_scale or None, c.camera_height or None,
                                 max_depth=c.max_depth, backend=backend,
                                 threads=c.threads or TORCH_DEFAULT_THREADS,
                                 refine_iterations=c.pose_refinement_iterations,
                                 refine_translation_prior=c.pose_refinement_translation_prior)
        self.get_logger().info(f'loaded {path}: input {pipeline.size[1]}x{pipeline.size[0]}, '
                               f'device {c.device}, backend {backend}, '
                               f'{torch.get_num_threads()} thread(s), {_scale_text(pipeline)}')
        return pipeline

    def fault(self, kind: str, text: str) -> None:
        """Count a fault of ``kind``; log it unless one of its kind was logged recently."""
        line = self.faults.report(kind, text)
        if line is not None:
            self.get_logger().warning(f'[{kind}] {line}')

    def _on_info(self, msg) -> None:
        try:
            k = intrinsics_from_camera_info(msg)
        except ValueError as err:
            self.fault('camera_info', f'{err}; message ignored')
            return
        self.intrinsics, self.info_size = k, (msg.height, msg.width)
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self._on_image(waiting, counted=True)

    def _on_reset(self, request, response):
        self.pipeline.reset()
        self._last_odom = None
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

    def _frame_intrinsics(self, h: int, w: int) -> np.ndarray:
        if self.intrinsics is not None:
            if self.info_size != (h, w) and all(self.info_size):
                return resize_intrinsics(self.intrinsics, self.info_size, (h, w))
            return self.intrinsics
        fx, fy, cx, cy = self.config.fallback_intrinsics
        if not (fx > 0 and fy > 0):
            raise FrameRejected('no camera_info yet and no fallback_intrinsics',
                                'no_intrinsics')
        return intrinsics_matrix(fx, fy, cx, cy)

    def _decode(self, msg) -> np.ndarray:
        limit = self.config.max_input_pixels
        if isinstance(msg, CompressedImage):
            return compressed_to_rgb(msg, max_pixels=limit)
        return rgb_from_message(msg, max_pixels=limit)

    def _on_image(self, msg, counted: bool = False) -> None:
        t0 = time.perf_counter()
        if not counted:
            self.stats.received()
        try:
            rgb = self._decode(msg)
            k = self._frame_intrinsics(*rgb.shape[:2])
            result = self.pipeline.process(rgb, stamp_to_ns(msg.header.stamp), k)
        except (DataError, FrameRejected) as err:
            if err.kind == 'no_intrinsics':
                self._waiting = msg  # the newest one only: older ones are stale
                self.fault(err.kind, f'{err}: the frame waits for camera_info (only the '
                           'latest such frame is kept)')
                return
            self.fault(err.kind, f'skipped a frame: {err}')
            return
        except (ValueError, RuntimeError) as err:  # torch or numpy on unforeseen input
            self.fault('inference', f'skipped a frame: {type(err).__name__}: {err}')
            return
        if result.reset:
            self._last_odom = None
            self.get_logger().info('odometry (re)started')
        if self.online is not None:
            if result.reset:
                self.online.clear()
            self.online.add_frame(result.image, result.intrinsics)
        try:
            self._publish(msg.header, rgb.shape[:2], result)
        except RuntimeError:
            if self.context.ok():
                raise
            return  # shutting down: the publishers' context is gone
        self.stats.published(time.perf_counter() - t0)

    def _publish(self, header, input_size, result: FrameResult) -> None:
        c = self.config
        header.frame_id = c.camera_frame or header.frame_id or 'camera_optical_frame'
        if not self.context.ok():
            return
        if c.publish_depth:
            depth, k = result.depth, result.intrinsics
            if c.output_resolution == 'input' and depth.shape != tuple(input_size):
                depth, k = upsample_depth(depth, k, input_size)
            self.depth_pub.publish(depth_message(depth, header))
            self.depth_info_pub.publish(camera_info_message(k, *depth.shape, header))
        if c.publish_points:
            s = c.points_stride
            points = result.points_every(s).reshape(-1, 3)
            keep = np.isfinite(points).all(1)
            colours = result.colours()[::s, ::s].reshape(-1, 3)
            self.points_pub.publish(point_cloud_message(points[keep], colours[keep], header))
        self._publish_odometry(header, result)

    def _publish_odometry(self, header, result: FrameResult) -> None:
        c = self.config
        pose, child = result.odom_T_camera, header.frame_id
        if c.base_frame:
            # odom is the base frame's start; odom_T_base = B odom_T_cam B^-1.
            pose = self.base_T_camera @ pose @ np.linalg.inv(self.base_T_camera)
            child = c.base_frame
            self._send_static(c.base_frame, header.frame_id)
        twist = None
        if self._last_odom is not None and result.stamp_ns > self._last_odom[0]:
            dt = (result.stamp_ns - self._last_odom[0]) * 1e-9
            twist = twist_from_poses(self._last_odom[1], pose, dt)
        self._last_odom = (result.stamp_ns, pose)
        if c.publish_odom:
            self.odom_pub.publish(odometry_message(
                pose, header.stamp, c.odom_frame, child, twist,
                c.pose_covariance_diagonal, c.twist_covariance_diagonal))
        if c.publish_tf and self.tf_pub is not None:
            tf = transform_message(pose, header.stamp, c.odom_frame, child)
            self.tf_pub.publish(self.tf_pub.msg_type(transforms=[tf]))

    def _send_static(self, parent: str, child: str) -> None:
        """Latch ``parent -> child`` (base_T_camera) on /tf_static when it changes."""
        c = self.config
        key = (parent, child, tuple(c.base_T_camera))
        if not c.publish_static_tf or self.tf_static_pub is None or key == self._static_sent:
            return
        tf = transform_message(self.base_T_camera, self.get_clock().now().to_msg(),
                               parent, child)
        self.tf_static_pub.publish(self.tf_static_pub.msg_type(transforms=[tf]))
        self._static_sent = key

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Check and apply run-time changes (read-only ones rclpy refuses before this)."""
        names = {f.name for f in dataclasses.fields(NodeConfig)}
        changes = {p.name: list(p.value) if isinstance(p.value, (array.array, tuple))
                   else p.value for p in params if p.name in names}
        if not changes:
            return SetParametersResult(successful=True)
        candidate = dataclasses.replace(self.config, **changes)
        try:
            check_config(candidate)
            base = self._base_T_camera(candidate)
            if {'depth_scale', 'camera_height'} & changes.keys():
                self.pipeline.set_scale(candidate.depth_scale or None,
                                        candidate.camera_height or None)
        except ValueError as err:
            return SetParametersResult(successful=False, reason=str(err))
        self.config, self.base_T_camera = candidate, base
        self.pipeline.max_depth = candidate.max_depth
        self.pipeline.set_refinement(candidate.pose_refinement_iterations,
                                     candidate.pose_refinement_translation_prior)
        self.faults.period = candidate.warn_period
        if 'threads' in changes:
            set_threads(candidate.threads)
        self.get_logger().info(f'parameters changed: {changes}')
        return SetParametersResult(successful=True)

    def on_timer(self) -> None:
        """Housekeeping: log online fine-tuning progress, publish /diagnostics."""
        if self.online is not None:
            self._log_online()
        if self.diagnostics_pub is not None:
            endpoints.publish_diagnostics(self)

    def _log_online(self) -> None:
        now = (self.online.steps, self.online.swaps, self.online.reverts)
        steps, swaps, reverts = self._online_seen
        if now[1] > swaps:
            self.get_logger().info(f'online fine-tuning: step {now[0]}, adapted weights '
                                   f'swapped in ({now[1]} swaps so far)')
        if now[2] > reverts:
            self.get_logger().warning(f'online fine-tuning: step {now[0]}, the copy diverged '
                                      f'and was reverted ({now[2]} reverts so far)')
        if now[0] // 100 > steps // 100:
            self.get_logger().info(f'online fine-tuning: {now[0]} steps, {now[1]} swaps, '
                                   f'{now[2]} reverts')
        self._online_seen = now


def _scale_text(pipeline) -> str:
    """Say where the published metres come from (for the start-up log)."""
    if pipeline.scale.needs_points:
        return 'metric scale from the ground plane'
    factor = pipeline.scale.depth_scale
    if pipeline.calibration is not None and factor == pipeline.calibration:
        return f"metric scale {factor:.4g} m per unit (the weights' calibration)"
    if pipeline.calibration is None and factor == 1.0:
        return ('the weights carry no metric calibration: depth is in network units; set '
                'depth_scale or camera_height for metres')
    return f'metric scale {factor:.4g} m per unit (depth_scale)'


def main(args=None) -> None:
    """Run the node until shut down; a start-up error is one FATAL line and exit status 1."""
    rclpy.init(args=args)
    node, status = None, 0
    try:
        node = DepthNode()
        # Everything loaded so far (torch, the networks) lives as long as the process: keep
        # it out of the garbage collector's passes, whose full sweeps stalled frames.
        gc.freeze()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, OSError) as err:
        if node is not None:
            raise
        rclpy.logging.get_logger('depth_node').fatal(f'cannot start: {err}')
        status = 1
    except Exception:
        # SIGINT while the node starts: rclpy's handler shuts the context down, and the
        # constructor's next entity fails on it (RCLError). That is a clean interrupt.
        if node is not None or rclpy.ok():
            raise
    finally:
        if node is not None:
            if node.online is not None:
                node.online.stop(save=True)
            node.destroy_node()
        rclpy.try_shutdown()
    sys.exit(status)


if __name__ == '__main__':
    main()
