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


"""numpy arrays -> the node's ROS 2 messages: depth, camera info, point clouds, odometry, TF.

Image decoding (Image and CompressedImage to arrays) is duck-typed and lives in
:mod:`mono_depth_ros.data.messages`, because the bag loaders need it without ROS; this
module builds rclpy messages and so needs the ROS message packages. Rotations come from
:mod:`mono_depth_ros.core.rotation`.

May import: rclpy message packages (diagnostic_msgs lazily) and :mod:`mono_depth_ros.core`,
:mod:`mono_depth_ros.data`.
"""

from __future__ import annotations

from typing import Optional, Sequence

from geometry_msgs.msg import TransformStamped
from mono_depth_ros.core.rotation import matrix_to_quaternion
from mono_depth_ros.data.messages import fill_depth_message
from nav_msgs.msg import Odometry
import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

__all__ = ['camera_info_message', 'depth_message', 'diagnostics_message',
           'intrinsics_from_camera_info',
           'matrix_to_quaternion', 'odometry_message', 'point_cloud_message',
           'transform_message']


def depth_message(depth: np.ndarray, header) -> Image:
    """32FC1 depth image in metres (REP 118), NaN = no estimate."""
    msg = Image()
    msg.header = header
    return fill_depth_message(msg, depth)


def camera_info_message(intrinsics: np.ndarray, height: int, width: int, header) -> CameraInfo:
    """Build the CameraInfo of a rectified pinhole image of the given size."""
    k = np.asarray(intrinsics, dtype=np.float64)
    msg = CameraInfo()
    msg.header = header
    msg.height, msg.width = int(height), int(width)
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = k.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def intrinsics_from_camera_info(msg) -> np.ndarray:
    """``(3, 3)`` from CameraInfo ``k``.

    Raises:
        ValueError: ``k`` is not a pinhole matrix a frame can use: a non-finite entry, a
            focal length that is not positive, a bottom row other than ``(0, 0, 1)``, or a
            principal point more than one image size outside the image (when the message
            gives the size); the text says which.

    """
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(k).all():
        raise ValueError(f'camera_info K has non-finite entries: {k.reshape(-1).tolist()}')
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise ValueError(f'camera_info K has no positive focal lengths (fx {k[0, 0]}, '
                         f'fy {k[1, 1]}): unset or invalid')
    if not np.allclose(k[2], [0.0, 0.0, 1.0], atol=1e-6) or abs(k[1, 0]) > 1e-9:
        raise ValueError(f'camera_info K is not a pinhole matrix (bottom row '
                         f'{k[2].tolist()}, K[3] {k[1, 0]}; expected 0 0 1 and 0)')
    h, w = int(msg.height), int(msg.width)
    if h <= 0 or w <= 0:
        h = w = 10**5  # no size given: only absurd principal points are refused
    if not (-w <= k[0, 2] <= 2 * w and -h <= k[1, 2] <= 2 * h):
        raise ValueError(f'camera_info principal point ({k[0, 2]}, {k[1, 2]}) is far '
                         f'outside the {w}x{h} image')
    return k


def point_cloud_message(points: np.ndarray, colours: Optional[np.ndarray], header
                        ) -> PointCloud2:
    """PointCloud2 with float32 x, y, z and a packed ``rgb`` float32 field (PCL's layout).

    ``points`` ``(N, 3)``; ``colours`` ``(N, 3)`` uint8 or None.
    """
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
              for i, n in enumerate('xyz')]
    if colours is not None:
        fields.append(PointField(name='rgb', offset=12, datatype=PointField.FLOAT32, count=1))
        c = np.asarray(colours, dtype=np.uint32).reshape(-1, 3)
        packed = ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).astype(np.uint32)
        record = np.empty(len(points), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'),
                                              ('rgb', '<u4')])
        record['rgb'] = packed
    else:
        record = np.empty(len(points), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4')])
    record['x'], record['y'], record['z'] = points[:, 0], points[:, 1], points[:, 2]
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = 1, len(points)
    msg.fields = fields
    msg.is_bigendian = False
    msg.point_step = record.dtype.itemsize
    msg.row_step = msg.point_step * len(points)
    msg.is_dense = bool(np.isfinite(points).all())
    msg.data = record.tobytes()
    return msg


def odometry_message(pose: np.ndarray, stamp, frame_id: str, child_frame_id: str,
                     twist: Optional[np.ndarray] = None,
                     pose_variances: Optional[Sequence[float]] = None,
                     twist_variances: Optional[Sequence[float]] = None) -> Odometry:
    """nav_msgs/Odometry of ``frame_T_child`` ``(4, 4)``.

    ``twist`` is ``(vx, vy, vz, wx, wy, wz)`` in the child frame (zero if None); the
    variances fill the diagonals of the 6x6 covariances (row-major, x y z then rotations
    about x y z, as the message defines), the rest stays zero.
    """
    msg = Odometry()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    p = msg.pose.pose.position
    p.x, p.y, p.z = (float(v) for v in pose[:3, 3])
    o = msg.pose.pose.orientation
    o.x, o.y, o.z, o.w = matrix_to_quaternion(pose[:3, :3])
    if twist is not None:
        lin, ang = msg.twist.twist.linear, msg.twist.twist.angular
        lin.x, lin.y, lin.z, ang.x, ang.y, ang.z = (float(v) for v in twist)
    if pose_variances is not None:
        msg.pose.covariance = np.diag(np.asarray(pose_variances, float)).reshape(-1).tolist()
    if twist_variances is not None:
        msg.twist.covariance = np.diag(np.asarray(twist_variances, float)).reshape(-1).tolist()
    return msg


def transform_message(pose: np.ndarray, stamp, frame_id: str,
                      child_frame_id: str) -> TransformStamped:
    """geometry_msgs/TransformStamped of ``frame_T_child`` ``(4, 4)``."""
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    t = msg.transform.translation
    t.x, t.y, t.z = (float(v) for v in pose[:3, 3])
    r = msg.transform.rotation
    r.x, r.y, r.z, r.w = matrix_to_quaternion(pose[:3, :3])
    return msg


def diagnostics_message(stamp, name: str, hardware_id: str, level: str, text: str,
                        values: dict):
    """diagnostic_msgs/DiagnosticArray with one status (``level``: OK, WARN, ERROR, STALE)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(level=getattr(DiagnosticStatus, level), name=name,
                              message=text, hardware_id=hardware_id)
    status.values = [KeyValue(key=str(k), value=f'{v:.6g}' if isinstance(v, float) else str(v))
                     for k, v in values.items()]
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg
