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

"""Metres per network depth unit, measured on a dataset's training drives, kept in the weights.

A monocular network's depth unit is arbitrary: trained without ground truth, it learns
depth up to a scale that drifts from run to run (v7's is about a third of a metre). The
node publishes metres (REP 118), so the weights carry the factor that makes their output
metric on scenes like their training data::

    python -m mono_depth_ros_training.calibrate WEIGHTS --data outputs/data_v3 [--write]

For each frame of the drives that are not in the dataset's test list, the ratio of the
median true depth to the median predicted depth over the pixels with truth (up to
``--max-depth``); the calibration is the median of those ratios, with their 10th and 90th
percentiles as its spread. The training never saw this truth, and the test drives are left
out. ``--write`` stores ``calibration = {metric_scale, p10, p90, frames, data}`` in the
weights' metadata (tensors unchanged); the node uses it when ``depth_scale`` is 0, its
default. On other scenes and cameras the factor can be far off: there, give the node
``camera_height`` (the ground-plane scale), which does not use it.

May import: :mod:`mono_depth_ros.core`, :mod:`mono_depth_ros.data`,
:mod:`mono_depth_ros.evaluation`; not ``runtime`` or ``ros``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, Sequence

from mono_depth_ros.core.inference import predict_depths
from mono_depth_ros.core.weights import load_networks, update_metadata
from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.kitti import eigen_test_frames, KittiDrive
from mono_depth_ros.evaluation.depth import depth_metrics, resize_depth
import numpy as np
from tqdm import tqdm

__all__ = ['frame_ratios', 'calibrate', 'main']


def frame_ratios(depth_net, size, drives: Sequence[KittiDrive], every: int = 5,
                 max_depth: float = 80.0) -> np.ndarray:
    """Median true over median predicted depth, per frame (every ``every``-th of each drive)."""
    ratios = []
    for drive in tqdm(drives, desc='calibrating', leave=False):
        frames = drive.frames[::every]
        images = [drive.image(f) for f in frames]
        for frame, pred in zip(frames, predict_depths(depth_net, images, size)):
            gt = drive.depth(frame)
            if pred.shape != gt.shape:
                pred = resize_depth(pred, gt.shape)
            try:  # the scale the median-scaled protocol applies to this frame
                ratios.append(depth_metrics(gt, pred, True, garg_crop=False,
                                            max_depth=max_depth)[1])
            except ValueError:  # no pixel with truth
                continue
    return np.asarray(ratios)


def calibrate(weights: Path, data: Path, every: int = 5, max_depth: float = 80.0) -> Dict:
    """Return the calibration of ``weights`` on the training drives of a rendered dataset.

    Raises:
        DataError: the dataset has no drives with truth outside its test list.

    """
    depth_net, _, meta = load_networks(weights)
    raw = data / 'kitti_raw'
    test_list = data / 'test_files_eigen.txt'
    test = {drive for _, drive, _ in eigen_test_frames(test_list)} if test_list.is_file() \
        else set()
    dirs = sorted(d for d in raw.glob('*/*_sync') if d.name not in test
                  and (d / 'proj_depth').is_dir())
    if not dirs:
        raise DataError(f'{raw}: no drives with ground truth outside the test list')
    ratios = frame_ratios(depth_net, tuple(meta['input_size']), [KittiDrive(d) for d in dirs],
                          every, max_depth)
    if not len(ratios):
        raise DataError(f'{raw}: no frame had enough pixels with truth')
    p10, median, p90 = np.percentile(ratios, [10, 50, 90])
    return {'metric_scale': float(median), 'p10': float(p10), 'p90': float(p90),
            'frames': int(len(ratios)), 'drives': len(dirs), 'data': str(data)}


def main(argv=None) -> None:
    """Measure (and with ``--write`` store) the calibration; print it as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('weights', type=Path)
    p.add_argument('--data', type=Path, required=True,
                   help='a rendered dataset folder (prepare render): kitti_raw with truth')
    p.add_argument('--every', type=int, default=5, help='every n-th frame of each drive')
    p.add_argument('--max-depth', type=float, default=80.0)
    p.add_argument('--write', action='store_true', help="store it in the weights' metadata")
    args = p.parse_args(argv)
    if args.every < 1:
        p.error('--every must be >= 1')
    result = calibrate(args.weights, args.data, args.every, args.max_depth)
    if args.write:
        update_metadata(args.weights, calibration=result)
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
