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


"""Rendered sequences with exact ground truth, written in the real datasets' formats.

A :class:`RenderedSequence` holds RGB frames, exact z-depth, ``world_T_camera`` poses,
intrinsics and timestamps. The writers put it on disk the way the real data arrive, so
every loader in :mod:`mono_depth_ros.data` is exercised on faithful files:

- :func:`write_kitti_raw`: a KITTI raw drive (``image_02/data/*.png``, timestamps, oxts
  packets with velocities, ``calib_cam_to_cam.txt``) with ground-truth depth as the KITTI
  depth benchmark stores it (``proj_depth/groundtruth/image_02/*.png``, uint16 = metres * 256,
  0 = invalid);
- :func:`write_kitti_odometry`: ``sequences/NN/image_2``, ``calib.txt``, ``times.txt`` and
  ``poses/NN.txt``;
- :func:`write_frames` and :func:`write_video`: a folder of PNG frames, an MP4 file;
- :func:`write_bag`: a rosbag2 (sqlite3 or mcap) with image, camera_info, ground-truth
  depth (32FC1), ground-truth odometry and TF.

May import: torch, numpy, rosbags, PyAV, :mod:`mono_depth_ros.core`,
:mod:`mono_depth_ros.data`.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
import math
from pathlib import Path
from typing import Callable, Sequence, Union

from mono_depth_ros.core.camera import intrinsics_from_fov
from mono_depth_ros.core.rotation import matrix_to_quaternion
from mono_depth_ros.data.messages import ns_to_stamp
from mono_depth_ros.sim.layouts import varied_scene_and_path
from mono_depth_ros.sim.motion import car_trajectory, handheld_trajectory
from mono_depth_ros.sim.scene import render, Scene, street
import numpy as np
import torch
from tqdm import tqdm

__all__ = ['RenderedSequence', 'default_intrinsics', 'make_sequence', 'make_varied_sequence',
           'render_sequence',
           'write_bag', 'write_frames', 'write_kitti_odometry', 'write_kitti_raw',
           'write_video']

PathLike = Union[str, Path]
_KITTI_START = dt.datetime(2011, 9, 26, 13, 2, 25)


@dataclass
class RenderedSequence:
    """Frames and exact ground truth of one rendered camera trajectory.

    Attributes:
        images: ``(N, H, W, 3)`` uint8 RGB.
        depths: ``(N, H, W)`` float32 z-depth in metres (inf where nothing is hit).
        poses: ``(N, 4, 4)`` float64 ``world_T_camera`` (camera = optical frame).
        intrinsics: ``(3, 3)`` float64.
        timestamps: ``(N,)`` float64 seconds.
        name: a short identifier.

    """

    images: np.ndarray
    depths: np.ndarray
    poses: np.ndarray
    intrinsics: np.ndarray
    timestamps: np.ndarray
    name: str = 'sequence'

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.images)


def default_intrinsics(height: int, width: int, hfov_deg: float = 81.0) -> np.ndarray:
    """Pinhole intrinsics ``(3, 3)`` with the given horizontal field of view (KITTI: ~81)."""
    return intrinsics_from_fov(width, height, hfov_deg)


def render_sequence(scene: Scene, poses: torch.Tensor, intrinsics: np.ndarray, height: int,
                    width: int, fps: float = 10.0, supersample: int = 2,
                    name: str = 'sequence', progress: bool = True) -> RenderedSequence:
    """Render every pose of ``poses`` ``(N, 4, 4)``; see :class:`RenderedSequence`."""
    k = torch.as_tensor(intrinsics, dtype=torch.float64)
    images, depths = [], []
    for pose in tqdm(poses, desc=f'rendering {name}', leave=False, disable=not progress):
        image, depth = render(scene, pose.double(), k, height, width, supersample=supersample)
        images.append((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        depths.append(depth[0].numpy().astype(np.float32))
    return RenderedSequence(np.stack(images), np.stack(depths), poses.double().numpy(),
                            np.asarray(intrinsics, dtype=np.float64),
                            np.arange(len(poses)) / fps, name)


def make_sequence(kind: str, frames: int, seed: int, height: int, width: int,
                  fps: float = 10.0, supersample: int = 2,
                  progress: bool = True) -> RenderedSequence:
    """Render a ``'car'`` or ``'handheld'`` sequence in a street built from ``seed``."""
    motions: dict = {'car': car_trajectory, 'handheld': handheld_trajectory}
    if kind not in motions:
        raise ValueError(f'kind must be one of {sorted(motions)}, got {kind!r}')
    move: Callable = motions[kind]
    poses = move(frames, seed=seed)
    length = float(poses[:, 2, 3].max()) + 60.0
    return render_sequence(street(seed, length=max(90.0, length)), poses,
                           default_intrinsics(height, width), height, width, fps,
                           supersample, name=f'{kind}_{seed}', progress=progress)


def make_varied_sequence(index: int, frames: int, seed: int, height: int, width: int,
                         fps: float = 10.0, supersample: int = 2, progress: bool = True,
                         mix: str = 'varied') -> RenderedSequence:
    """Render sequence ``index`` of a training mix.

    ``mix`` names one of :data:`layouts.MIXES`: ``'varied'`` (:data:`layouts.VARIED_MIX`)
    or ``'indoor'`` (its indoor spaces alone).
    """
    name, scene, poses = varied_scene_and_path(index, seed, frames, mix)
    return render_sequence(scene, poses, default_intrinsics(height, width), height, width,
                           fps, supersample, name=f'{name}_{seed}', progress=progress)


def _png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _fmt(values: Sequence[float]) -> str:
    return ' '.join(f'{v:.12e}' for v in values)


def _kitti_time(seconds: float) -> str:
    t = _KITTI_START + dt.timedelta(seconds=float(seconds))
    return t.strftime('%Y-%m-%d %H:%M:%S.') + f'{t.microsecond * 1000:09d}'


def write_kitti_raw(seq: RenderedSequence, root: PathLike, date: str = '2011_09_26',
                    drive: int = 1) -> Path:
    """Write ``seq`` as a KITTI raw drive under ``root``; return the drive folder."""
    root = Path(root)
    drive_dir = root / date / f'{date}_drive_{drive:04d}_sync'
    h, w = seq.images.shape[1:3]
    k = seq.intrinsics
    p_rect = [k[0, 0], 0, k[0, 2], 0, 0, k[1, 1], k[1, 2], 0, 0, 0, 1, 0]
    lines = ['calib_time: 09-Jan-2012 13:57:47', 'corner_dist: 9.950000e-02']
    for cam in ('00', '01', '02', '03'):
        lines += [f'S_{cam}: {_fmt([w, h])}', f'K_{cam}: {_fmt(k.reshape(-1))}',
                  f'D_{cam}: {_fmt([0] * 5)}', f'R_{cam}: {_fmt(np.eye(3).reshape(-1))}',
                  f'T_{cam}: {_fmt([0, 0, 0])}', f'S_rect_{cam}: {_fmt([w, h])}',
                  f'R_rect_{cam}: {_fmt(np.eye(3).reshape(-1))}', f'P_rect_{cam}: {_fmt(p_rect)}']
    (root / date).mkdir(parents=True, exist_ok=True)
    (root / date / 'calib_cam_to_cam.txt').write_text('\n'.join(lines) + '\n')
    stamps = [_kitti_time(t) for t in seq.timestamps]
    for sub in ('image_02', 'oxts'):
        (drive_dir / sub).mkdir(parents=True, exist_ok=True)
        (drive_dir / sub / 'timestamps.txt').write_text('\n'.join(stamps) + '\n')
    dts = np.diff(seq.timestamps, append=seq.timestamps[-1] + 1.0)
    for i, (image, depth) in enumerate(zip(seq.images, seq.depths)):
        _png(drive_dir / 'image_02' / 'data' / f'{i:010d}.png', image)
        gt = np.where(np.isfinite(depth) & (depth < 255.0), depth * 256.0, 0.0)
        _png(drive_dir / 'proj_depth' / 'groundtruth' / 'image_02' / f'{i:010d}.png',
             gt.round().astype(np.uint16))
        # Velocity of the camera in its own frame (forward = optical z, left = -x, up = -y).
        j = min(i + 1, len(seq) - 1)
        move = np.linalg.inv(seq.poses[i]) @ seq.poses[j]
        vel = move[:3, 3] / dts[i] if j != i else np.zeros(3)
        east, north = seq.poses[i][0, 3], seq.poses[i][2, 3]
        yaw = math.atan2(seq.poses[i][0, 2], seq.poses[i][2, 2])
        packet = [49.0 + north / 111320.0, 8.4 + east / (111320.0 * math.cos(math.radians(49))),
                  115.0 - seq.poses[i][1, 3], 0.0, 0.0, -yaw, 0.0, 0.0, vel[2], -vel[0],
                  -vel[1]] + [0.0] * 12 + [0.1, 0.05, 4, 10, 4, 4, 4]
        (drive_dir / 'oxts' / 'data').mkdir(parents=True, exist_ok=True)
        (drive_dir / 'oxts' / 'data' / f'{i:010d}.txt').write_text(
            ' '.join(f'{v:.10g}' for v in packet) + '\n')
    return drive_dir


def write_kitti_odometry(seq: RenderedSequence, root: PathLike, number: int = 0) -> Path:
    """Write ``seq`` as KITTI odometry sequence ``number``; return the sequence folder."""
    root = Path(root)
    seq_dir = root / 'sequences' / f'{number:02d}'
    k = seq.intrinsics
    p = _fmt([k[0, 0], 0, k[0, 2], 0, 0, k[1, 1], k[1, 2], 0, 0, 0, 1, 0])
    tr = _fmt(np.eye(4)[:3].reshape(-1))
    seq_dir.mkdir(parents=True, exist_ok=True)
    (seq_dir / 'calib.txt').write_text(
        ''.join(f'P{c}: {p}\n' for c in range(4)) + f'Tr: {tr}\n')
    (seq_dir / 'times.txt').write_text(''.join(f'{t:.6e}\n' for t in seq.timestamps))
    for i, image in enumerate(seq.images):
        _png(seq_dir / 'image_2' / f'{i:06d}.png', image)
    first_inv = np.linalg.inv(seq.poses[0])
    (root / 'poses').mkdir(parents=True, exist_ok=True)
    (root / 'poses' / f'{number:02d}.txt').write_text(''.join(
        _fmt((first_inv @ pose)[:3].reshape(-1)) + '\n' for pose in seq.poses))
    return seq_dir


def write_frames(seq: RenderedSequence, folder: PathLike) -> Path:
    """Write the frames as ``folder/000000.png``, ...; return the folder."""
    folder = Path(folder)
    for i, image in enumerate(seq.images):
        _png(folder / f'{i:06d}.png', image)
    return folder


def write_video(seq: RenderedSequence, path: PathLike, fps: int = 10) -> Path:
    """Encode the frames as an H.264 MP4 (near-lossless, crf 10) with PyAV."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = seq.images.shape[1:3]
    with av.open(str(path), mode='w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = 'yuv444p'
        stream.options = {'crf': '10'}
        for image in seq.images:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image[:stream.height, :stream.width]), format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _bag_messages(t, seq: RenderedSequence, i: int, ns: int, frame_id: str,
                  compressed: bool) -> dict:
    """Build the messages of frame ``i`` (``rosbags`` types ``t``), keyed as the connections."""
    h, w = seq.images.shape[1:3]
    k = seq.intrinsics
    hdr = t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](**ns_to_stamp(ns)),
                                   frame_id=frame_id)
    odom_hdr = t['std_msgs/msg/Header'](stamp=hdr.stamp, frame_id='odom')
    if compressed:
        import io

        from PIL import Image
        buf = io.BytesIO()
        Image.fromarray(seq.images[i]).save(buf, format='png')
        image = t['sensor_msgs/msg/CompressedImage'](
            header=hdr, format='png', data=np.frombuffer(buf.getvalue(), dtype=np.uint8))
    else:
        image = t['sensor_msgs/msg/Image'](
            header=hdr, height=h, width=w, encoding='rgb8', is_bigendian=0, step=w * 3,
            data=seq.images[i].reshape(-1).copy())
    depth = np.where(np.isfinite(seq.depths[i]), seq.depths[i], np.nan)
    depth_msg = t['sensor_msgs/msg/Image'](
        header=hdr, height=h, width=w, encoding='32FC1', is_bigendian=0, step=w * 4,
        data=depth.astype('<f4').view(np.uint8).reshape(-1).copy())
    info = t['sensor_msgs/msg/CameraInfo'](
        header=hdr, height=h, width=w, distortion_model='plumb_bob', d=np.zeros(5),
        k=k.reshape(-1).copy(), r=np.eye(3).reshape(-1),
        p=np.array([k[0, 0], 0, k[0, 2], 0, 0, k[1, 1], k[1, 2], 0, 0, 0, 1, 0.0]),
        binning_x=0, binning_y=0,
        roi=t['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                  do_rectify=False))
    pose = np.linalg.inv(seq.poses[0]) @ seq.poses[i]
    vec3, quat = t['geometry_msgs/msg/Vector3'], t['geometry_msgs/msg/Quaternion']
    rotation = quat(*matrix_to_quaternion(pose[:3, :3]))
    odom = t['nav_msgs/msg/Odometry'](
        header=odom_hdr, child_frame_id=frame_id,
        pose=t['geometry_msgs/msg/PoseWithCovariance'](
            pose=t['geometry_msgs/msg/Pose'](
                position=t['geometry_msgs/msg/Point'](*pose[:3, 3]), orientation=rotation),
            covariance=np.zeros(36)),
        twist=t['geometry_msgs/msg/TwistWithCovariance'](
            twist=t['geometry_msgs/msg/Twist'](linear=vec3(0, 0, 0), angular=vec3(0, 0, 0)),
            covariance=np.zeros(36)))
    tf = t['tf2_msgs/msg/TFMessage'](transforms=[t['geometry_msgs/msg/TransformStamped'](
        header=odom_hdr, child_frame_id=frame_id,
        transform=t['geometry_msgs/msg/Transform'](translation=vec3(*pose[:3, 3]),
                                                   rotation=rotation))])
    return {'info': info, 'image': image, 'depth': depth_msg, 'odom': odom, 'tf': tf}


def write_bag(seq: RenderedSequence, path: PathLike, storage: str = 'sqlite3',
              image_topic: str = '/camera/image_raw', info_topic: str = '/camera/camera_info',
              depth_topic: str = '/ground_truth/depth', odom_topic: str = '/ground_truth/odom',
              frame_id: str = 'camera_optical_frame', compressed: bool = False,
              start_ns: int = 1_700_000_000_000_000_000) -> Path:
    """Write ``seq`` as a rosbag2 (``storage``: ``'sqlite3'`` or ``'mcap'``).

    Topics: ``image_topic`` (sensor_msgs/Image rgb8, or CompressedImage png on
    ``image_topic + '/compressed'`` when ``compressed``), ``info_topic``, ground-truth
    depth (32FC1), ground-truth odometry (nav_msgs/Odometry, ``odom`` -> ``frame_id``, the
    first camera pose as origin) and the same transform on ``/tf``.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores

    plugins = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
    if storage not in plugins:
        raise ValueError(f"storage must be 'sqlite3' or 'mcap', got {storage!r}")
    store = get_typestore(Stores.ROS2_KILTED)
    topics = {
        'image': (image_topic + ('/compressed' if compressed else ''),
                  'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'),
        'info': (info_topic, 'sensor_msgs/msg/CameraInfo'),
        'depth': (depth_topic, 'sensor_msgs/msg/Image'),
        'odom': (odom_topic, 'nav_msgs/msg/Odometry'),
        'tf': ('/tf', 'tf2_msgs/msg/TFMessage'),
    }
    path = Path(path)
    with Writer(path, version=9, storage_plugin=plugins[storage]) as writer:
        conns = {key: writer.add_connection(topic, msgtype, typestore=store)
                 for key, (topic, msgtype) in topics.items()}
        for i in range(len(seq)):
            ns = start_ns + int(round(seq.timestamps[i] * 1e9))
            messages = _bag_messages(store.types, seq, i, ns, frame_id, compressed)
            for key, msg in messages.items():
                writer.write(conns[key], ns, store.serialize_cdr(msg, conns[key].msgtype))
    return path
