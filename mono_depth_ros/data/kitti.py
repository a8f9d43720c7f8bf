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


"""KITTI raw (with the Eigen split) and KITTI odometry, read from their own file layouts.

- Raw: ``<root>/<date>/calib_cam_to_cam.txt`` (``P_rect_02``, ``S_rect_02``),
  ``<root>/<date>/<drive>/image_02/data/*.png``, ``oxts/data/*.txt`` (forward/left
  speed in fields 8 and 9), and optionally ground-truth depth as the KITTI depth benchmark
  stores it (``proj_depth/groundtruth/image_02/*.png``: uint16, metres * 256, 0 = none).
- Eigen split: the SfMLearner / vid2depth test list, one
  ``<date>/<drive>/image_02/data/<frame>.png`` per line (697 lines for the real split); its
  drives are excluded from training.
- Odometry: ``sequences/NN/image_2/*.png``, ``sequences/NN/calib.txt`` (``P2``),
  ``poses/NN.txt`` (3x4 ``first_T_i`` per line).

May import: numpy, torch, Pillow, PyAV, rosbags, :mod:`mono_depth_ros.core` and other ``data``
modules (never ROS).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mono_depth_ros.data.errors import DataError
import numpy as np

__all__ = ['KittiDrive', 'eigen_test_frames', 'read_calib_file', 'read_depth_png',
           'read_odometry_intrinsics', 'read_odometry_poses', 'read_png']

PathLike = Union[str, Path]


def read_png(path: PathLike) -> np.ndarray:
    """Read an RGB ``uint8`` image ``(H, W, 3)``; :class:`DataError` names a bad file."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f'{path}: image file not found')
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert('RGB'))
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f'{path}: cannot read image: {err}') from err


def read_depth_png(path: PathLike) -> np.ndarray:
    """KITTI depth-benchmark ground truth ``(H, W)`` float32 metres, NaN where none."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            raw = np.asarray(img)
    except (FileNotFoundError, UnidentifiedImageError, OSError) as err:
        raise DataError(f'{path}: cannot read depth png: {err}') from err
    if raw.dtype not in (np.uint16, np.int32) or raw.ndim != 2:
        raise DataError(f'{path}: expected a single-channel 16-bit depth png, got '
                        f'{raw.dtype} {raw.shape}')
    depth = raw.astype(np.float32) / 256.0
    depth[raw == 0] = np.nan
    return depth


def read_calib_file(path: PathLike) -> Dict[str, np.ndarray]:
    """Parse a KITTI ``key: numbers`` calibration file (non-numeric values skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f'{path}: calibration file not found')
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if ':' not in line:
            if line.strip():
                raise DataError(f'{path}:{n}: expected "key: values", got {line!r}')
            continue
        key, value = line.split(':', 1)
        try:
            out[key.strip()] = np.array([float(v) for v in value.split()])
        except ValueError:
            continue  # calib_time and similar
    return out


class KittiDrive:
    """One KITTI raw drive (camera 2): frames, intrinsics, speeds and ground-truth depth.

    Args:
        drive_dir: ``<root>/<date>/<date>_drive_NNNN_sync``.
        camera: camera index (2 = left colour, as SfMLearner and vid2depth use).

    """

    def __init__(self, drive_dir: PathLike, camera: int = 2) -> None:
        """Index the drive; raise :class:`DataError` if its parts are missing."""
        self.dir = Path(drive_dir)
        self.camera = camera
        self.image_dir = self.dir / f'image_{camera:02d}' / 'data'
        if not self.image_dir.is_dir():
            raise DataError(f'{self.image_dir}: image folder not found (is {self.dir} a '
                            'KITTI raw drive?)')
        self.frames = sorted(p.stem for p in self.image_dir.glob('*.png'))
        if not self.frames:
            raise DataError(f'{self.image_dir}: no .png frames')
        calib_path = self.dir.parent / 'calib_cam_to_cam.txt'
        calib = read_calib_file(calib_path)
        key_p, key_s = f'P_rect_{camera:02d}', f'S_rect_{camera:02d}'
        if key_p not in calib or calib[key_p].size != 12:
            raise DataError(f'{calib_path}: missing or malformed {key_p}')
        self.intrinsics = calib[key_p].reshape(3, 4)[:, :3].copy()
        size = calib.get(key_s)
        self.size = (int(size[1]), int(size[0])) if size is not None else None

    @property
    def name(self) -> str:
        """``<date>_drive_NNNN_sync``."""
        return self.dir.name

    def image(self, frame: str) -> np.ndarray:
        """RGB ``uint8`` ``(H, W, 3)`` of ``frame`` (checked against ``S_rect``)."""
        img = read_png(self.image_dir / f'{frame}.png')
        if self.size is not None and img.shape[:2] != self.size:
            raise DataError(f'{self.image_dir / frame}.png: size {img.shape[1]}x'
                            f'{img.shape[0]} differs from S_rect ({self.size[1]}x'
                            f'{self.size[0]})')
        return img

    def depth(self, frame: str) -> np.ndarray:
        """Ground-truth depth ``(H, W)`` of ``frame`` in metres (NaN where none)."""
        return read_depth_png(self.dir / 'proj_depth' / 'groundtruth'
                              / f'image_{self.camera:02d}' / f'{frame}.png')

    def frame_interval(self) -> float:
        """Median seconds between frames from ``timestamps.txt`` (0.1, KITTI's 10 Hz, without)."""
        path = self.image_dir.parent / 'timestamps.txt'
        if not path.is_file():
            return 0.1
        try:
            stamps = [datetime.datetime.fromisoformat(line.strip()[:26])
                      for line in path.read_text().splitlines() if line.strip()]
        except ValueError as err:
            raise DataError(f'{path}: cannot read timestamps: {err}') from err
        steps = np.diff([t.timestamp() for t in stamps])
        steps = steps[steps > 0]
        return float(np.median(steps)) if steps.size else 0.1

    def speeds(self) -> Optional[np.ndarray]:
        """Horizontal speed (m/s) per frame from the oxts packets, or None without them."""
        folder = self.dir / 'oxts' / 'data'
        if not folder.is_dir():
            return None
        out = []
        for frame in self.frames:
            path = folder / f'{frame}.txt'
            try:
                fields = [float(v) for v in path.read_text().split()]
            except (OSError, ValueError) as err:
                raise DataError(f'{path}: cannot read oxts packet: {err}') from err
            if len(fields) < 30:
                raise DataError(f'{path}: oxts packet has {len(fields)} fields, expected 30')
            out.append(np.hypot(fields[8], fields[9]))
        return np.array(out)


def eigen_test_frames(path: PathLike) -> List[Tuple[str, str, str]]:
    """Parse an Eigen test list: ``[(date, drive, frame), ...]`` in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f'{path}: split file not found')
    out = []
    for n, line in enumerate(path.read_text().split('\n'), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split()[0].split('/')
        if len(parts) != 5 or parts[3] != 'data':
            raise DataError(f'{path}:{n}: expected <date>/<drive>/image_0X/data/<frame>.png, '
                            f'got {line!r}')
        out.append((parts[0], parts[1], Path(parts[4]).stem))
    return out


def read_odometry_poses(path: PathLike) -> np.ndarray:
    """KITTI odometry ground truth ``(N, 4, 4)``: pose of camera i in camera 0's frame."""
    path = Path(path)
    try:
        values = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as err:
        raise DataError(f'{path}: cannot read poses: {err}') from err
    if values.shape[1] != 12:
        raise DataError(f'{path}: expected 12 numbers per line, got {values.shape[1]}')
    poses = np.tile(np.eye(4), (len(values), 1, 1))
    poses[:, :3, :] = values.reshape(-1, 3, 4)
    return poses


def read_odometry_intrinsics(seq_dir: PathLike, camera: int = 2) -> np.ndarray:
    """Intrinsics ``(3, 3)`` of camera ``camera`` from ``sequences/NN/calib.txt``."""
    path = Path(seq_dir) / 'calib.txt'
    calib = read_calib_file(path)
    key = f'P{camera}'
    if key not in calib or calib[key].size != 12:
        raise DataError(f'{path}: missing or malformed {key}')
    return calib[key].reshape(3, 4)[:, :3].copy()


def odometry_frames(seq_dir: PathLike, camera: int = 2) -> Sequence[Path]:
    """Sorted image paths of a KITTI odometry sequence."""
    folder = Path(seq_dir) / f'image_{camera}'
    frames = sorted(folder.glob('*.png'))
    if not frames:
        raise DataError(f'{folder}: no .png frames')
    return frames
