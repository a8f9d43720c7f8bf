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

"""Does the ego-motion network fit its own training drives? Rotation on train vs test cars.

Run ``python -m benchmarks.rotation_fit --weights W [W ...]`` from the repository root,
after rendering the street datasets (``--train`` folders, ``prepare render --scenes
streets``, whose car drives are the sequences ``prepare.street_path`` calls so) and
a test set (``--test``). A training car drive's true poses are its trajectory regenerated
from the seed ``prepare`` gave it (``prepare.sequence_seed``); its frames are the rendered
PNGs on disk, exactly what training saw (before augmentation). For each weights file it
prints the network's own frame-to-frame rotation error and gain (the scores of
``evaluate``) on those training drives and on the test car drives. What it answers: if
the error is as large on the drives the network was trained on, the network does not fit
them (its estimator, not the data it has seen, limits it); if it is small there and
large on the test drives, it is generalisation.
"""

import argparse
from pathlib import Path
from typing import List, Sequence, Tuple

from mono_depth_ros.core.inference import pairwise_motions
from mono_depth_ros.core.weights import load_networks
from mono_depth_ros.data.kitti import KittiDrive, odometry_frames, read_odometry_poses, read_png
from mono_depth_ros.evaluation.pose import chain_motions, evaluate_trajectory
from mono_depth_ros.sim.motion import car_trajectory
from mono_depth_ros_training.prepare import DATE, sequence_seed, street_path
import numpy as np
import torch

#: the street datasets of the compact recipes and their ``prepare render`` seeds
DEFAULT_TRAIN = ('outputs/data_v4s:21', 'outputs/data_v16s:51')


def _scores(ego_net, size, frames, truth) -> Tuple[float, float]:
    result = evaluate_trajectory(truth, chain_motions(pairwise_motions(ego_net, frames, size)))
    return result['rotation_error_deg'], result['rotation_gain']


def training_car_drives(root: Path, seed: int, count: int):
    """Return ``count`` car drives of a street dataset: (name, frames, truth) each."""
    drives = []
    index = 0
    while len(drives) < count:
        folder = root / 'kitti_raw' / DATE / f'{DATE}_drive_{index + 1:04d}_sync'
        if not folder.is_dir():
            break
        if street_path(index) == 'car':
            drive = KittiDrive(folder)
            frames = [drive.image(f) for f in drive.frames]
            poses = np.asarray(car_trajectory(len(frames), seed=sequence_seed(seed, index)),
                               dtype=np.float64)
            truth = np.stack([np.linalg.inv(poses[0]) @ p for p in poses])
            drives.append((f'{root.name} {index:02d}', frames, truth))
        index += 1
    return drives


def held_out_car_drives(root: Path, numbers: Sequence[int]):
    """Return the test set's odometry sequences ``numbers``: (name, frames, truth) each."""
    odometry = root / 'kitti_odometry'
    return [(f'test {n:02d}',
             [read_png(p) for p in odometry_frames(odometry / 'sequences' / f'{n:02d}')],
             read_odometry_poses(odometry / 'poses' / f'{n:02d}.txt')) for n in numbers]


def main(argv=None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', nargs='+', required=True)
    parser.add_argument('--train', nargs='+', default=list(DEFAULT_TRAIN),
                        metavar='FOLDER:SEED', help='street datasets and their render seeds')
    parser.add_argument('--drives', type=int, default=4, help='car drives per dataset')
    parser.add_argument('--test', default='outputs/data_v3')
    parser.add_argument('--test-sequences', type=int, nargs='+', default=[0, 1])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    train: List = []
    for item in args.train:
        folder, seed = item.rsplit(':', 1)
        train += training_car_drives(Path(folder), int(seed), args.drives)
    test = held_out_car_drives(Path(args.test), args.test_sequences)
    print(f'{len(train)} training car drives, {len(test)} test car drives; network rotation '
          'error deg / gain (mean over the drives)')
    print(f'{"weights":<40}{"train error":>12}{"train gain":>12}{"test error":>12}'
          f'{"test gain":>12}')
    for weights in args.weights:
        _, ego_net, meta = load_networks(weights)
        size = tuple(meta['input_size'])
        rows = [np.array([_scores(ego_net, size, f, t) for _, f, t in drives])
                for drives in (train, test)]
        path = Path(weights)
        name = f'{path.parent.name}/{path.stem}' if path.stem == 'weights' else path.stem
        print(f'{name[:39]:<40}' + ''.join(
            f'{r[:, 0].mean():>12.3f}{r[:, 1].mean():>12.3f}' for r in rows))


if __name__ == '__main__':
    main()
