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


"""rosbag2 (sqlite3 and mcap) reading with the ``rosbags`` library (no ROS install needed).

:func:`read_camera_bag` yields the frames of an image topic (sensor_msgs/Image in any
supported encoding, or CompressedImage) with the latest camera_info's intrinsics and
optional ground truth (a depth image topic, odometry poses); :func:`write_camera_bag`
writes frames from anywhere (a video, an image folder) as a camera's image and
camera_info topics.

May import: numpy, torch, Pillow, PyAV, rosbags, :mod:`mono_depth_ros.core` and other ``data``
modules (never ROS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Union

from mono_depth_ros.core.rotation import pose_from_quaternion
from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.messages import (compressed_to_rgb, depth_from_message,
                                          rgb_from_message, stamp_to_ns)
import numpy as np

__all__ = ['BagFrame', 'bag_topics', 'odometry_poses', 'read_camera_bag', 'write_camera_bag']

PathLike = Union[str, Path]
_IMAGE = 'sensor_msgs/msg/Image'
_COMPRESSED = 'sensor_msgs/msg/CompressedImage'


@dataclass
class BagFrame:
    """One camera frame from a bag.

    Attributes:
        stamp_ns: header stamp in nanoseconds.
        image: RGB ``uint8`` ``(H, W, 3)``.
        intrinsics: ``(3, 3)`` from the latest camera_info, or None if none came yet.
        depth: ground-truth depth ``(H, W)`` metres with the same stamp, or None.

    """

    stamp_ns: int
    image: np.ndarray
    intrinsics: Optional[np.ndarray]
    depth: Optional[np.ndarray] = None


def _reader(path: PathLike):
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import get_typestore, Stores

    path = Path(path)
    if not path.exists():
        raise DataError(f'{path}: no such bag')
    try:
        return AnyReader([path], default_typestore=get_typestore(Stores.ROS2_KILTED))
    except Exception as err:  # noqa: B902 - rosbags raises several unrelated types
        raise DataError(f'{path}: cannot open bag: {err}') from err


def bag_topics(path: PathLike) -> Dict[str, str]:
    """Map topic -> message type of a bag."""
    with _reader(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def read_camera_bag(path: PathLike, image_topic: str, info_topic: Optional[str] = None,
                    depth_topic: Optional[str] = None) -> Iterator[BagFrame]:
    """Yield the frames of ``image_topic`` in bag order (see :class:`BagFrame`).

    Raises:
        DataError: bag unreadable, topic missing or of the wrong type, bad image data.

    """
    with _reader(path) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        for topic, wanted in ((image_topic, (_IMAGE, _COMPRESSED)),
                              (info_topic, ('sensor_msgs/msg/CameraInfo',)),
                              (depth_topic, (_IMAGE,))):
            if topic is None:
                continue
            if topic not in types:
                raise DataError(f'{path}: no topic {topic!r}; topics: {sorted(types)}')
            if types[topic] not in wanted:
                raise DataError(f'{path}: topic {topic!r} has type {types[topic]}, '
                                f'expected {" or ".join(wanted)}')
        wanted_topics = {t for t in (image_topic, info_topic, depth_topic) if t}
        conns = [c for c in reader.connections if c.topic in wanted_topics]
        intrinsics = None
        depths: Dict[int, np.ndarray] = {}
        pending: List = []
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            where = f'{path} [{conn.topic}]'
            if conn.topic == info_topic:
                intrinsics = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
            elif conn.topic == depth_topic:
                depths[stamp_to_ns(msg.header.stamp)] = depth_from_message(msg, where)
            else:
                image = (compressed_to_rgb(msg, where) if conn.msgtype == _COMPRESSED
                         else rgb_from_message(msg, where))
                pending.append(BagFrame(stamp_to_ns(msg.header.stamp), image, intrinsics))
            # Depth for a frame may come just after the image with the same stamp.
            while pending and (depth_topic is None or pending[0].stamp_ns in depths
                               or len(pending) > 4):
                frame = pending.pop(0)
                frame.depth = depths.pop(frame.stamp_ns, None)
                yield frame
        for frame in pending:
            frame.depth = depths.pop(frame.stamp_ns, None)
            yield frame


def odometry_poses(path: PathLike, topic: str) -> Dict[int, np.ndarray]:
    """Read nav_msgs/Odometry poses: ``{stamp_ns: (4, 4) parent_T_child}``."""
    out = {}
    with _reader(path) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            raise DataError(f'{path}: no topic {topic!r}')
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            out[stamp_to_ns(msg.header.stamp)] = pose_from_quaternion(
                [p.x, p.y, p.z], [q.x, q.y, q.z, q.w], f'{path} [{topic}]')
    return out


def write_camera_bag(frames: Iterable[np.ndarray], path: PathLike, intrinsics: np.ndarray,
                     fps: float = 10.0, image_topic: str = '/camera/image_raw',
                     info_topic: str = '/camera/camera_info',
                     frame_id: str = 'camera_optical_frame',
                     start_ns: int = 1_700_000_000_000_000_000) -> int:
    """Write RGB frames as a rosbag2 of Image (rgb8) and CameraInfo at ``fps``.

    This is how a video file or an image folder goes through the replay tool: made a bag
    of the topics a camera driver publishes. Returns the number of frames written.
    """
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_typestore, Stores

    if not fps > 0:
        raise ValueError(f'fps must be positive, got {fps}')
    store = get_typestore(Stores.ROS2_KILTED)
    t = store.types
    k = np.asarray(intrinsics, dtype=np.float64)
    count = 0
    with Writer(Path(path), version=9) as writer:
        image_conn = writer.add_connection(image_topic, _IMAGE, typestore=store)
        info_conn = writer.add_connection(info_topic, 'sensor_msgs/msg/CameraInfo',
                                          typestore=store)
        for i, rgb in enumerate(frames):
            ns = start_ns + int(round(i * 1e9 / fps))
            h, w = rgb.shape[:2]
            header = t['std_msgs/msg/Header'](
                stamp=t['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9),
                frame_id=frame_id)
            info = t['sensor_msgs/msg/CameraInfo'](
                header=header, height=h, width=w, distortion_model='plumb_bob',
                d=np.zeros(5), k=k.reshape(-1).copy(), r=np.eye(3).reshape(-1),
                p=np.array([k[0, 0], 0, k[0, 2], 0, 0, k[1, 1], k[1, 2], 0, 0, 0, 1, 0.0]),
                binning_x=0, binning_y=0, roi=t['sensor_msgs/msg/RegionOfInterest'](
                    x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
            image = t[_IMAGE](header=header, height=h, width=w, encoding='rgb8',
                              is_bigendian=0, step=w * 3,
                              data=np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1))
            writer.write(info_conn, ns, store.serialize_cdr(info, info_conn.msgtype))
            writer.write(image_conn, ns, store.serialize_cdr(image, image_conn.msgtype))
            count += 1
    if not count:
        raise DataError(f'{path}: no frames to write')
    return count
