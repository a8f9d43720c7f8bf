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


"""Frames from a video file or a folder of images, with known or guessed intrinsics.

The paper trained on uncalibrated phone video with intrinsics guessed from the field of
view; :func:`mono_depth_ros.core.camera.intrinsics_from_fov` does that guess.

May import: numpy, torch, Pillow, PyAV, rosbags, :mod:`mono_depth_ros.core` and other ``data``
modules (never ROS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Union

from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.kitti import read_png
import numpy as np

__all__ = ['IMAGE_SUFFIXES', 'read_frames']

PathLike = Union[str, Path]
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


def read_frames(source: PathLike, stride: int = 1,
                max_frames: Optional[int] = None) -> Iterator[np.ndarray]:
    """Yield RGB ``uint8`` frames ``(H, W, 3)`` from a video file or an image folder.

    Args:
        source: a video file (anything FFmpeg reads, through PyAV) or a folder of images
            (sorted by name).
        stride: keep every ``stride``-th frame.
        max_frames: stop after this many kept frames.

    Raises:
        DataError: the source is missing, empty, unreadable, or its frames change size.

    """
    source = Path(source)
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise DataError(f'{source}: no image files ({", ".join(IMAGE_SUFFIXES)})')
        frames = (read_png(p) for p in paths)
    elif source.is_file():
        frames = _video_frames(source)
    else:
        raise DataError(f'{source}: no such video file or folder')
    shape = None
    kept = 0
    for i, frame in enumerate(frames):
        if i % stride:
            continue
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise DataError(f'{source}: frame {i} is {frame.shape[1]}x{frame.shape[0]}, '
                            f'earlier frames {shape[1]}x{shape[0]}')
        yield frame
        kept += 1
        if max_frames is not None and kept >= max_frames:
            return
    if shape is None:
        raise DataError(f'{source}: no frames')


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise DataError(f'{path}: cannot open video: {err}') from err
    with container:
        if not container.streams.video:
            raise DataError(f'{path}: no video stream')
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format='rgb24')
        except av.error.FFmpegError as err:
            raise DataError(f'{path}: video decoding failed: {err}') from err
