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


"""Evaluation with the community's protocols: ``python -m mono_depth_ros_training.evaluate``.

- Depth on a KITTI-raw-layout test split (Eigen list; ground truth as the KITTI depth
  benchmark stores it): Garg crop, 80 m cap, per-image median scaling, the seven metrics;
  and the same without median scaling: the network's depth times the weights' metric
  calibration (``mono_depth_ros_training.calibrate``; 1 if they carry none).
- Ego-motion on KITTI odometry sequences: ATE over 5-frame snippets (mean +- std) and the
  whole trajectory aligned by a similarity transform.

Prints a table, writes ``metrics.json``, ``depth.png`` (input | truth | prediction) and
``trajectory_NN.png``.

May import: :mod:`mono_depth_ros` (core, data, evaluation, sim) and this package; never
``runtime`` or ``ros``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mono_depth_ros.core.camera import resize_intrinsics
from mono_depth_ros.core.inference import pairwise_motions, predict_depths, refined_motions
from mono_depth_ros.core.weights import load_networks, metric_scale
from mono_depth_ros.data.kitti import (eigen_test_frames, KittiDrive, odometry_frames,
                                       read_odometry_intrinsics, read_odometry_poses,
                                       read_png)
from mono_depth_ros.evaluation.depth import (DEPTH_METRICS, distance_bands, evaluate_depths,
                                             median_scaled, resize_depth)
from mono_depth_ros.evaluation.plots import save_depth_grid, save_trajectory_plot
from mono_depth_ros.evaluation.pose import chain_motions, evaluate_trajectory
from mono_depth_ros_training.config import parse_size
import numpy as np
from tqdm import tqdm

__all__ = ['evaluate_depth_split', 'evaluate_odometry', 'format_table', 'main']


def evaluate_depth_split(depth_net, size, raw_root: Path, test_files: Path,
                         pictures: Optional[Path] = None, max_depth: float = 80.0,
                         scale: float = 1.0) -> Dict:
    """Depth metrics (median-scaled, and metric after ``scale``) over an Eigen-style list.

    ``per_drive`` holds the median-scaled metrics of each drive alone (a car drive and a
    walk have different targets), ``bands`` each drive's median-scaled error by true
    distance (:func:`~mono_depth_ros.evaluation.depth.distance_bands`: where it lies).
    """
    entries = eigen_test_frames(test_files)
    drives: Dict[str, KittiDrive] = {}
    gts, images = [], []
    for date, drive, frame in entries:
        if drive not in drives:
            drives[drive] = KittiDrive(raw_root / date / drive)
        images.append(drives[drive].image(frame))
        gts.append(drives[drive].depth(frame))
    preds = []
    for start in tqdm(range(0, len(images), 16), desc='depth', leave=False):
        preds += predict_depths(depth_net, images[start:start + 16], size)
    # At the truth's size once (the protocol's bilinear upsampling), not in every scoring.
    preds = [p if p.shape == g.shape else resize_depth(p, g.shape) for g, p in zip(gts, preds)]
    result = {
        'median_scaled': evaluate_depths(zip(gts, preds), True, max_depth=max_depth),
        'metric': evaluate_depths(((g, p * scale) for g, p in zip(gts, preds)), False,
                                  max_depth=max_depth),
        'per_drive': {},
        'bands': {},
    }
    for name in drives:
        idx = [i for i, (_, drive, _) in enumerate(entries) if drive == name]
        result['per_drive'][name] = evaluate_depths(((gts[i], preds[i]) for i in idx), True,
                                                    max_depth=max_depth)
        result['bands'][name] = distance_bands(((gts[i], preds[i]) for i in idx),
                                               max_depth=max_depth)
    if pictures is not None:
        idx = np.linspace(0, len(images) - 1, min(4, len(images))).round().astype(int)
        scaled = [median_scaled(preds[i], gts[i]) for i in idx]
        save_depth_grid(pictures, [images[i] for i in idx],
                        {'ground truth': [gts[i] for i in idx],
                         'prediction (median-scaled)': scaled},
                        title='depth on the test split')
    return result


def evaluate_odometry(ego_net, size, odometry_root: Path, sequences: Sequence[int],
                      seq_length: int = 3, pictures: Optional[Path] = None,
                      depth_net=None) -> Dict:
    """Snippet ATE and aligned trajectory RMSE per KITTI odometry sequence.

    With ``depth_net``, each sequence's ``refined`` entry scores the same motions after
    photometric refinement on that network's depth (the node's default,
    :func:`~mono_depth_ros.core.inference.refined_motions`).
    """
    out = {}
    for number in sequences:
        seq_dir = odometry_root / 'sequences' / f'{number:02d}'
        frames = [read_png(p) for p in odometry_frames(seq_dir)]
        gt = read_odometry_poses(odometry_root / 'poses' / f'{number:02d}.txt')
        if len(gt) != len(frames):
            raise ValueError(f'{seq_dir}: {len(frames)} frames but {len(gt)} poses')
        motions = pairwise_motions(ego_net, frames, size, seq_length)
        result = evaluate_trajectory(gt, chain_motions(motions))
        if depth_net is not None:
            k = resize_intrinsics(read_odometry_intrinsics(seq_dir), frames[0].shape[:2], size)
            refined = evaluate_trajectory(gt, chain_motions(
                refined_motions(depth_net, frames, motions, size, k)))
            refined.pop('aligned')
            result['refined'] = refined
        if pictures is not None:
            save_trajectory_plot(pictures.parent / f'trajectory_{number:02d}.png',
                                 gt[:, :3, 3], {'predicted (similarity-aligned)':
                                                result['aligned']},
                                 title=f'sequence {number:02d}: ATE(5) '
                                 f'{result["ate_mean"]:.4f} +- {result["ate_std"]:.4f} m')
        result.pop('aligned')
        out[f'{number:02d}'] = result
    return out


def format_table(rows: Dict[str, Dict[str, float]], columns: Sequence[str]) -> str:
    """Format a fixed-width text table, one row per name."""
    width = max(10, *(len(c) + 2 for c in columns))
    head = f'{"":<24}' + ''.join(f'{c:>{width}}' for c in columns)
    lines = [head]
    for name, values in rows.items():
        lines.append(f'{name:<24}' + ''.join(
            f'{values[c]:>{width}.4f}' if isinstance(values.get(c), float) else f'{"-":>{width}}'
            for c in columns))
    return '\n'.join(lines)


def evaluate(weights: Path, data: Path, out: Path, sequences: Optional[List[int]] = None,
             size: Optional[Tuple[int, int]] = None) -> Dict:
    """Evaluate ``weights`` on a rendered (or real) dataset folder laid out as prepared.

    ``size = (H, W)`` runs the networks at another input size than the weights' own (both
    run at any size: the depth network is fully convolutional, the ego-motion network pools
    globally); None: the weights' size.
    """
    depth_net, ego_net, meta = load_networks(weights)
    if size is None:
        size = tuple(meta['input_size'])
    elif len(size) != 2 or min(size) < 8:
        raise ValueError(f'size must be (H, W) of at least 8 pixels each, got {size}')
    out.mkdir(parents=True, exist_ok=True)
    result = {'weights': str(weights), 'input_size': [int(v) for v in size]}
    scale = metric_scale(meta) or 1.0
    result['metric_scale'] = scale
    result['depth'] = evaluate_depth_split(depth_net, size, data / 'kitti_raw',
                                           data / 'test_files_eigen.txt', out / 'depth.png',
                                           scale=scale)
    odo = data / 'kitti_odometry'
    if sequences is None:
        sequences = sorted(int(p.name) for p in (odo / 'sequences').glob('*') if p.is_dir())
    result['pose'] = evaluate_odometry(ego_net, size, odo, sequences,
                                       meta['model']['seq_length'], out / 'trajectory.png',
                                       depth_net)
    (out / 'metrics.json').write_text(json.dumps(result, indent=2))
    return result


def main(argv=None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', type=Path, required=True)
    parser.add_argument('--data', type=Path, default=Path('outputs/data'),
                        help='folder with kitti_raw/, test_files_eigen.txt, kitti_odometry/')
    parser.add_argument('--out', type=Path, default=Path('outputs/eval'))
    parser.add_argument('--sequences', type=int, nargs='*')
    parser.add_argument('--size', type=parse_size, default=None, metavar='HxW',
                        help="network input size (default: the weights' own)")
    args = parser.parse_args(argv)
    result = evaluate(args.weights, args.data, args.out, args.sequences, args.size)
    depth = dict(result['depth'])
    per_drive, bands = depth.pop('per_drive'), depth.pop('bands')
    print(format_table({f'depth {k}': v for k, v in depth.items()}, DEPTH_METRICS))
    print('median-scaled, per drive:')
    print(format_table({name[-15:]: v for name, v in per_drive.items()}, DEPTH_METRICS))
    print('median-scaled, per drive and true distance (ratio: median prediction / truth):')
    print(format_table({f'{name[-15:]} {b["lo"]:g}-{b["hi"]:g} m': b
                        for name, rows in bands.items() for b in rows},
                       ('pixels', 'abs_rel', 'error_share', 'ratio')))
    pose_columns = ('ate_mean', 'ate_std', 'rmse_aligned', 'rotation_error_deg',
                    'rotation_gain')
    print(format_table({f'seq {k}': v for k, v in result['pose'].items()}, pose_columns))
    print("after photometric refinement of the motions (the node's default):")
    print(format_table({f'seq {k} refined': v['refined'] for k, v in result['pose'].items()},
                       pose_columns))
    print(f'written: {args.out}/metrics.json, depth.png, trajectory_*.png')


if __name__ == '__main__':
    main()
