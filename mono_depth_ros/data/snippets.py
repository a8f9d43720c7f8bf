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


"""Training snippets in the SfMLearner / vid2depth layout, and the dataset that reads them.

A prepared folder holds, per sequence, ``<sequence>/<frame>.png`` (``S`` consecutive frames
resized to ``H x W`` and concatenated side by side, width ``S * W``) and
``<sequence>/<frame>_cam.txt`` (the 9 numbers of the scaled intrinsics, comma-separated),
plus ``train.txt`` / ``val.txt`` listing ``<sequence> <frame>`` lines. Static frames (a
stopped car) are removed before snippets are formed, from measured speeds when there are
any (KITTI oxts), else from the photometric change between frames.

May import: numpy, torch, Pillow, PyAV, rosbags, :mod:`mono_depth_ros.core` and other ``data``
modules (never ROS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from mono_depth_ros.core.camera import resize_intrinsics
from mono_depth_ros.core.resize import box_resize
from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.kitti import read_png
import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ['MIN_SPEED', 'SnippetDataset', 'prepare_snippets', 'resize_frame', 'write_split']

#: metres per second below which a frame with a speed (KITTI oxts) counts as static
MIN_SPEED = 0.3

PathLike = Union[str, Path]


def resize_frame(image: np.ndarray, intrinsics: np.ndarray,
                 size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Resize an RGB frame to ``size = (H, W)`` (area filter); scale the intrinsics.

    The intrinsics follow :func:`~mono_depth_ros.core.camera.resize_intrinsics`.
    """
    h, w = image.shape[:2]
    out_h, out_w = size
    resized = box_resize(np.asarray(image), (out_h, out_w))
    return resized, resize_intrinsics(intrinsics, (h, w), (out_h, out_w))


def _moving(frames: Sequence[np.ndarray], speeds: Optional[np.ndarray], min_speed: float,
            min_change: float) -> List[int]:
    """Return the indices of the frames kept after dropping static ones."""
    if speeds is not None:
        return [i for i, v in enumerate(speeds) if v >= min_speed]
    kept = [0]
    for i in range(1, len(frames)):
        change = np.abs(frames[i].astype(np.float32) - frames[kept[-1]]).mean() / 255.0
        if change >= min_change:
            kept.append(i)
    return kept


def prepare_snippets(frames: Iterable[np.ndarray], intrinsics: np.ndarray, out_dir: PathLike,
                     sequence: str, size: Tuple[int, int] = (128, 416), seq_length: int = 3,
                     speeds: Optional[np.ndarray] = None, min_speed: float = MIN_SPEED,
                     min_change: float = 0.01,
                     frame_ids: Optional[Sequence[str]] = None, gap: int = 1) -> List[str]:
    """Write the snippets of one sequence; return their ``"<sequence> <frame>"`` lines.

    Args:
        frames: RGB ``uint8`` frames ``(H0, W0, 3)`` in time order.
        intrinsics: ``(3, 3)`` of the original frames.
        out_dir: the prepared dataset folder.
        sequence: sub-folder name for this sequence.
        size: network input ``(H, W)``.
        seq_length: frames per snippet (the middle one names the snippet).
        speeds: per-frame speed in m/s (KITTI oxts) or None.
        min_speed: frames slower than this are static (with ``speeds``).
        min_change: without speeds, a frame whose mean absolute change from the last kept
            frame is below this fraction of full scale is static.
        frame_ids: names of the frames (default: their indices, zero-padded).
        gap: a snippet's frames are this many kept frames apart (1 = consecutive; more
            gives a slow camera the baseline a fast one has between frames).

    """
    if gap < 1:
        raise ValueError(f'gap must be >= 1, got {gap}')
    resized, k = [], None
    for frame in frames:
        small, k = resize_frame(frame, intrinsics, size)
        resized.append(small)
    if speeds is not None and len(speeds) != len(resized):
        raise DataError(f'{sequence}: {len(speeds)} speeds for {len(resized)} frames')
    ids = list(frame_ids) if frame_ids is not None else [f'{i:010d}' for i in range(len(resized))]
    kept = _moving(resized, speeds, min_speed, min_change)
    folder = Path(out_dir) / sequence
    folder.mkdir(parents=True, exist_ok=True)
    half = seq_length // 2
    lines = []
    from PIL import Image
    for j in range(half * gap, len(kept) - (seq_length - 1 - half) * gap):
        window = kept[j - half * gap:j + (seq_length - half) * gap:gap]
        name = ids[kept[j]]
        Image.fromarray(np.concatenate([resized[i] for i in window], axis=1)).save(
            folder / f'{name}.png')
        (folder / f'{name}_cam.txt').write_text(','.join(f'{v:.8g}' for v in k.reshape(-1)))
        lines.append(f'{sequence} {name}')
    return lines


def write_split(out_dir: PathLike, split: str, lines: Sequence[str]) -> Path:
    """Write ``<out_dir>/<split>.txt`` (the folder is made if need be; no lines: empty)."""
    path = Path(out_dir) / f'{split}.txt'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(f'{line}\n' for line in lines))
    return path


class SnippetDataset(Dataset):
    """Snippets of a prepared folder as ``{'images': (S, 3, H, W), 'intrinsics': (3, 3)}``.

    Images are float32 in ``[0, 1]``. Args: ``root`` (the prepared folder), ``split``
    (``'train'`` or ``'val'``), ``seq_length``, ``size`` = expected ``(H, W)`` or None.
    """

    def __init__(self, root: PathLike, split: str = 'train', seq_length: int = 3,
                 size: Optional[Tuple[int, int]] = None) -> None:
        """Read the split list; a missing list or an empty split is a :class:`DataError`."""
        self.root = Path(root)
        self.seq_length = seq_length
        self.size = size
        listing = self.root / f'{split}.txt'
        if not listing.is_file():
            raise DataError(f'{listing}: split list not found (prepare the data first)')
        self.items = []
        for n, line in enumerate(listing.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise DataError(f'{listing}:{n}: expected "<sequence> <frame>", got {line!r}')
            self.items.append((parts[0], parts[1]))
        if not self.items:
            raise DataError(f'{listing}: no snippets')

    def __len__(self) -> int:
        """Return the number of snippets."""
        return len(self.items)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        """Load one snippet (checks its width and intrinsics file)."""
        sequence, frame = self.items[index]
        path = self.root / sequence / f'{frame}.png'
        strip = read_png(path)
        h, total_w = strip.shape[:2]
        if total_w % self.seq_length:
            raise DataError(f'{path}: width {total_w} is not a multiple of seq_length '
                            f'{self.seq_length}')
        w = total_w // self.seq_length
        if self.size is not None and (h, w) != tuple(self.size):
            raise DataError(f'{path}: frames are {w}x{h}, expected {self.size[1]}x'
                            f'{self.size[0]}')
        cam = path.with_name(f'{frame}_cam.txt')
        try:
            k = np.array([float(v) for v in cam.read_text().replace(',', ' ').split()])
        except (OSError, ValueError) as err:
            raise DataError(f'{cam}: cannot read intrinsics: {err}') from err
        if k.size != 9:
            raise DataError(f'{cam}: expected 9 numbers, got {k.size}')
        images = torch.from_numpy(strip.copy()).float().div(255.0).permute(2, 0, 1)
        images = images.reshape(3, h, self.seq_length, w).permute(2, 0, 1, 3).contiguous()
        return {'images': images, 'intrinsics': torch.from_numpy(k.reshape(3, 3)).float()}
