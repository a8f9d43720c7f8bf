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


"""Data preparation: ``python -m mono_depth_ros_training.prepare {render,kitti,video,bag} ...``.

- ``render``: render car and handheld sequences with exact ground truth and write them in
  the real formats (KITTI raw drives with depth, an Eigen-style test list, KITTI odometry
  sequences, a rosbag2, an MP4), then prepare training snippets from the KITTI files;
- ``kitti``: snippets from KITTI raw (Eigen split test drives excluded, static frames
  removed by oxts speed);
- ``video``: snippets from a video file or image folder (intrinsics given or guessed from a
  field of view);
- ``bag``: snippets from a rosbag2 image topic with camera_info (or a field of view).

May import: :mod:`mono_depth_ros` (core, data, evaluation, sim) and this package; never
``runtime`` or ``ros``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
import json
import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from mono_depth_ros.core.camera import intrinsics_from_fov, intrinsics_matrix
from mono_depth_ros.data.bag import read_camera_bag
from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.kitti import eigen_test_frames, KittiDrive
from mono_depth_ros.data.snippets import MIN_SPEED, prepare_snippets, write_split
from mono_depth_ros.data.video import read_frames
from mono_depth_ros.sim.dataset import (make_sequence, make_varied_sequence, write_bag,
                                        write_kitti_odometry, write_kitti_raw, write_video)
from mono_depth_ros.sim.layouts import MIXES
from mono_depth_ros_training.config import parse_size
import numpy as np
from tqdm import tqdm

__all__ = ['main', 'prepare_kitti', 'render_dataset', 'snippet_gap', 'split_lines']

DATE = '2011_09_26'


def split_lines(lines: Sequence[str], val_fraction: float, seed: int
                ) -> Tuple[List[str], List[str]]:
    """Shuffle snippet lines deterministically and split off a validation share."""
    order = np.random.default_rng(seed).permutation(len(lines))
    n_val = int(round(len(lines) * val_fraction))
    shuffled = [lines[i] for i in order]
    return shuffled[n_val:], shuffled[:n_val]


def snippet_gap(speeds: Optional[np.ndarray], frame_interval: float,
                min_baseline: Optional[float], max_gap: int = 4) -> int:
    """Frames between a snippet's neighbours for a drive (1 without ``min_baseline``).

    The smallest gap at which the drive's median moving speed (``speeds`` from oxts, m/s;
    frames under :data:`~mono_depth_ros.data.snippets.MIN_SPEED` left out as
    :func:`~mono_depth_ros.data.snippets.prepare_snippets` leaves them out), over
    ``frame_interval`` seconds, covers ``min_baseline`` metres between neighbours, at most
    ``max_gap``: a walk of 0.15 m per frame gets 2 for 0.3 m, a car drive 1. Without
    speeds it is 1.
    """
    if not min_baseline or speeds is None:
        return 1
    moving = speeds[speeds >= MIN_SPEED]
    if not moving.size:
        return 1
    step = float(np.median(moving)) * frame_interval
    return int(min(max(math.ceil(min_baseline / step - 1e-9), 1), max_gap))


def prepare_kitti(raw_root: Path, out: Path, size: Tuple[int, int],
                  test_files: Optional[Path] = None, seq_length: int = 3,
                  val_fraction: float = 0.1, seed: int = 0,
                  min_baseline: Optional[float] = None) -> dict:
    """Snippets from every KITTI raw drive under ``raw_root`` not in the test split.

    ``min_baseline`` (metres) spaces a slow drive's snippet frames further apart
    (:func:`snippet_gap`); None keeps consecutive frames, as the paper does.
    """
    test_drives = set()
    if test_files is not None:
        test_drives = {drive for _, drive, _ in eigen_test_frames(test_files)}
    drives = sorted(p for p in raw_root.glob('*/*_sync') if p.is_dir())
    if not drives:
        raise DataError(f'{raw_root}: no <date>/<drive>_sync folders')
    lines: List[str] = []
    used, gaps = [], {}
    for drive_dir in tqdm(drives, desc='kitti drives'):
        if drive_dir.name in test_drives:
            continue
        drive = KittiDrive(drive_dir)
        frames = (drive.image(f) for f in drive.frames)
        speeds = drive.speeds()
        gaps[drive.name] = snippet_gap(speeds, drive.frame_interval(), min_baseline)
        lines += prepare_snippets(frames, drive.intrinsics, out, drive.name + '_02', size,
                                  seq_length, speeds=speeds, frame_ids=drive.frames,
                                  gap=gaps[drive.name])
        used.append(drive.name)
    train, val = split_lines(lines, val_fraction, seed)
    write_split(out, 'train', train)
    write_split(out, 'val', val)
    info = {'drives': used, 'excluded_test_drives': sorted(test_drives), 'train': len(train),
            'val': len(val)}
    if min_baseline:
        info['snippet_gaps'] = gaps
    return info


def _render_one(job: Tuple[int, bool, str, int, int, Tuple[int, int], int]):
    """Render one sequence of a dataset (a process-pool task; one torch thread)."""
    import torch

    torch.set_num_threads(1)
    i, is_test, scenes, frames, seed, (h, w), supersample = job
    if scenes in MIXES and not is_test:
        return make_varied_sequence(i, frames, seed, h, w, supersample=supersample,
                                    progress=False, mix=scenes)
    return make_sequence(street_path(i), frames, seed, h, w, supersample=supersample,
                         progress=False)


def street_path(index: int) -> str:
    """Return the path kind of street sequence ``index``: every third is a handheld walk."""
    return 'handheld' if index % 3 == 2 else 'car'


def sequence_seed(seed: int, index: int) -> int:
    """Return the seed that sequence ``index`` of a dataset rendered from ``seed`` gets."""
    return seed * 1000 + index


#: training scene sets of ``prepare render --scenes``: the procedural streets, then the
#: layout mixes of :data:`mono_depth_ros.sim.layouts.MIXES`
SCENE_SETS = ('streets', *MIXES)


def render_dataset(out: Path, size: Tuple[int, int], train_sequences: int, frames: int,
                   test_sequences: int, test_frames: int, seed: int = 0,
                   supersample: int = 2, scenes: str = 'streets', workers: int = 1) -> dict:
    """Render a training set and a disjoint test set (other seeds = other streets).

    ``scenes='streets'`` renders every training sequence as a procedurally textured street
    (car drives, every third a handheld walk); ``'varied'`` cycles the layouts of
    :mod:`mono_depth_ros.sim.layouts` (photo-textured streets, yards and indoor spaces,
    car, robot and handheld paths), ``'indoor'`` only its indoor spaces. The test sequences
    are streets of other seeds either way. ``workers`` processes render in parallel; the
    result does not depend on them.
    """
    if scenes not in SCENE_SETS:
        raise ValueError(f'scenes must be one of {SCENE_SETS}, got {scenes!r}')
    raw = out / 'kitti_raw'
    test_lines = []
    jobs = [(i, i >= train_sequences, scenes, test_frames if i >= train_sequences else frames,
             sequence_seed(seed, i), tuple(size), supersample)
            for i in range(train_sequences + test_sequences)]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        rendered = tqdm(pool.map(_render_one, jobs), total=len(jobs), desc='rendering')
        for (i, is_test, *_), seq in zip(jobs, rendered):
            drive_dir = write_kitti_raw(seq, raw, DATE, drive=i + 1)
            if is_test:
                j = i - train_sequences
                write_kitti_odometry(seq, out / 'kitti_odometry', number=j)
                test_lines += [f'{DATE}/{drive_dir.name}/image_02/data/{k:010d}.png'
                               for k in range(0, len(seq), 2)]
                if j == 0:
                    write_bag(seq, out / 'bags' / 'test_sqlite3', 'sqlite3')
                    write_bag(seq, out / 'bags' / 'test_mcap', 'mcap', compressed=True)
                    write_video(seq, out / 'video' / 'test.mp4')
    (out / 'test_files_eigen.txt').write_text(''.join(f'{line}\n' for line in test_lines))
    info = prepare_kitti(raw, out / 'prepared', size, out / 'test_files_eigen.txt', seed=seed)
    (out / 'dataset.json').write_text(json.dumps({**info, 'size': list(size), 'seed': seed,
                                                  'scenes': scenes}, indent=2))
    return info


def main(argv=None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('render', help='render a dataset with exact ground truth')
    p.add_argument('--out', type=Path, default=Path('outputs/data'))
    p.add_argument('--size', type=parse_size, default=(128, 416))
    p.add_argument('--train-sequences', type=int, default=6)
    p.add_argument('--frames', type=int, default=60)
    p.add_argument('--test-sequences', type=int, default=2)
    p.add_argument('--test-frames', type=int, default=30)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--supersample', type=int, default=2)
    p.add_argument('--scenes', choices=SCENE_SETS, default='streets',
                   help='training scenes: procedural streets, varied layouts with photos, or '
                        'their indoor spaces alone')
    p.add_argument('--workers', type=int, default=1, help='rendering processes')
    p = sub.add_parser('kitti', help='snippets from KITTI raw')
    p.add_argument('--raw', type=Path, required=True, help='KITTI raw root (<date>/...)')
    p.add_argument('--out', type=Path, required=True)
    p.add_argument('--test-files', type=Path, help='Eigen test list (drives excluded)')
    p.add_argument('--size', type=parse_size, default=(128, 416))
    p.add_argument('--min-baseline', type=float, help='metres a slow drive should move '
                   'between snippet frames: its frames are spaced further apart (at most 4)')
    for name, helptext in (('video', 'snippets from a video file or image folder'),
                           ('bag', 'snippets from a rosbag2 image topic')):
        p = sub.add_parser(name, help=helptext)
        p.add_argument('--out', type=Path, required=True)
        p.add_argument('--size', type=parse_size, default=(128, 416))
        p.add_argument('--fov', type=float, help='horizontal field of view (degrees) to '
                       'guess intrinsics from')
        p.add_argument('--intrinsics', help='fx,fy,cx,cy of the original frames')
        p.add_argument('--stride', type=int, default=1)
        p.add_argument('--val-fraction', type=float, default=0.1)
        if name == 'video':
            p.add_argument('--source', type=Path, required=True)
        else:
            p.add_argument('--bag', type=Path, required=True)
            p.add_argument('--image-topic', required=True)
            p.add_argument('--info-topic')
    args = parser.parse_args(argv)
    print(json.dumps(COMMANDS[args.command](args), indent=2))


def _render(args: argparse.Namespace) -> dict:
    return render_dataset(args.out, args.size, args.train_sequences, args.frames,
                          args.test_sequences, args.test_frames, args.seed, args.supersample,
                          args.scenes, args.workers)


def _kitti(args: argparse.Namespace) -> dict:
    return prepare_kitti(args.raw, args.out, args.size, args.test_files,
                         min_baseline=args.min_baseline)


def _video_frames(args: argparse.Namespace):
    """Frames, a name and no intrinsics (a video carries none)."""
    return list(read_frames(args.source, stride=args.stride)), args.source.stem, None


def _bag_frames(args: argparse.Namespace):
    """Frames, a name and the last camera_info's intrinsics (or None)."""
    got = list(read_camera_bag(args.bag, args.image_topic, args.info_topic))
    k = got[-1].intrinsics if got else None
    return [f.image for f in got][::args.stride], args.bag.stem, k


def _prepare_frames(args: argparse.Namespace) -> dict:
    frames, name, k = FRAME_SOURCES[args.command](args)
    if not frames:
        raise DataError(f'{name}: no frames')
    h0, w0 = frames[0].shape[:2]
    if args.intrinsics:
        fx, fy, cx, cy = (float(v) for v in args.intrinsics.split(','))
        k = intrinsics_matrix(fx, fy, cx, cy)
    elif args.fov:
        k = intrinsics_from_fov(w0, h0, args.fov)
    if k is None:
        raise DataError(f'{name}: no intrinsics: give --intrinsics or --fov (or a '
                        'camera_info topic for a bag)')
    lines = prepare_snippets(frames, k, args.out, name, args.size)
    train, val = split_lines(lines, args.val_fraction, 0)
    write_split(args.out, 'train', train)
    write_split(args.out, 'val', val)
    return {'sequence': name, 'frames': len(frames), 'train': len(train), 'val': len(val),
            'intrinsics': k.tolist()}


#: the frame sources of the ``video`` and ``bag`` commands
FRAME_SOURCES = {'video': _video_frames, 'bag': _bag_frames}
#: sub-command -> handler
COMMANDS = {'render': _render, 'kitti': _kitti, 'video': _prepare_frames,
            'bag': _prepare_frames}


if __name__ == '__main__':
    main()
