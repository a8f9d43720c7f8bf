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

"""Depth after test-time refinement: a few training steps on each test frame's own snippet.

Run ``python -m benchmarks.test_time --data outputs/data_v3`` (``--help``). For every
Eigen test frame of a rendered dataset (its ``kitti_odometry`` sequences hold the test
drives' frames in order, ``kitti_raw`` their true depth), a fresh copy of the weights takes
``--steps`` training steps on one three-frame snippet around the frame, with the loss the
weights were trained with (their metadata; batch norm on its running statistics), and then
predicts the frame's depth. ``--window centred`` takes the frames before and after (offline,
for a recorded sequence), ``causal`` the two before (what a running camera could do). Each
``--steps`` value is scored side by side (0 = the weights as they are), per drive, with the
Eigen protocol, median-scaled, and by true distance (the near band is where the shipped
weights miss most). ``--depth-lr-scale`` gives the depth network a share of ``--lr`` (the
node's online fine-tuning uses 0.1). Prints a table and writes ``results.json``.

The cost is ``steps`` training steps per frame (about 0.08 s each at 48x160 on one CPU
thread), so this is a measurement of what the loss can still teach on a frame the network
has never seen, not a per-frame mode for the node.
"""

import argparse
import copy
import json
from pathlib import Path
from typing import Dict, List

from mono_depth_ros.core.camera import resize_intrinsics
from mono_depth_ros.core.config import from_dict, LossConfig
from mono_depth_ros.core.inference import frames_to_tensor
from mono_depth_ros.core.networks import train_on_running_statistics
from mono_depth_ros.core.step import train_step
from mono_depth_ros.core.weights import load_networks
from mono_depth_ros.data.kitti import (eigen_test_frames, KittiDrive, odometry_frames,
                                       read_odometry_intrinsics, read_png)
from mono_depth_ros.evaluation.depth import distance_bands, evaluate_depths
import torch
from tqdm import tqdm


def refine_drive(weights: str, frames, intrinsics, targets: List[int], steps: int,
                 lr: float, window: str, seed: int = 0, depth_lr_scale: float = 1.0) -> List:
    """Depth ``(H, W)`` of each frame in ``targets`` after ``steps`` steps on its snippet."""
    depth_net, ego_net, meta = load_networks(weights)
    size = tuple(meta['input_size'])
    seq = int(meta['model']['seq_length'])
    loss = from_dict(LossConfig, {**meta['training'].get('loss', {}),
                                  'icp_association': 'projective'}, 'loss')
    images = frames_to_tensor(frames, size)
    k = torch.as_tensor(resize_intrinsics(intrinsics, frames[0].shape[:2], size),
                        dtype=torch.float32)[None]
    depths = []
    for f in tqdm(targets, desc=f'{steps} steps', leave=False):
        torch.manual_seed(seed + f)
        nets = copy.deepcopy(depth_net), copy.deepcopy(ego_net)
        if steps:
            start = f - seq + 1 if window == 'causal' else f - seq // 2
            start = min(max(0, start), len(frames) - seq)
            snippet = images[start:start + seq][None]
            optimiser = torch.optim.Adam([
                {'params': list(nets[1].parameters())},
                {'params': list(nets[0].parameters()), 'lr': lr * depth_lr_scale}], lr=lr)
            train_on_running_statistics(*nets)
            for _ in range(steps):
                train_step(*nets, optimiser, snippet, k, loss)
        nets[0].eval()
        with torch.no_grad():
            depths.append(1.0 / nets[0](images[f:f + 1])[0][0, 0].numpy())
    return depths


def main(argv=None) -> None:
    """Refine and score each test drive at each step count."""
    from mono_depth_ros.weights import default_weights

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', default=str(default_weights()))
    parser.add_argument('--data', type=Path, default=Path('outputs/data_v3'))
    parser.add_argument('--steps', type=int, nargs='+', default=[0, 20])
    parser.add_argument('--lr', type=float, default=1e-4)
    parser.add_argument('--window', choices=('centred', 'causal'), default='centred')
    parser.add_argument('--depth-lr-scale', type=float, default=1.0,
                        help="the depth network's share of the learning rate (the node's "
                        'online fine-tuning: 0.1)')
    parser.add_argument('--out', type=Path, default=Path('outputs/test_time'))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    entries = eigen_test_frames(args.data / 'test_files_eigen.txt')
    drives = sorted({(date, drive) for date, drive, _ in entries})
    sequences = sorted(p for p in (args.data / 'kitti_odometry' / 'sequences').iterdir()
                       if p.is_dir())
    if len(sequences) != len(drives):
        raise SystemExit(f'{len(drives)} test drives but {len(sequences)} odometry sequences')
    results: Dict[str, Dict] = {}
    print(f'{"drive":<10}{"steps":>6}{"abs_rel":>9}{"a1":>7}{"0-5 m abs_rel":>15}'
          f'{"0-5 m ratio":>13}')
    for (date, drive), seq_dir in zip(drives, sequences):
        frames = [read_png(p) for p in odometry_frames(seq_dir)]
        truth = KittiDrive(args.data / 'kitti_raw' / date / drive)
        names = [frame for d, dr, frame in entries if (d, dr) == (date, drive)]
        targets = [int(name) for name in names]
        gts = [truth.depth(name) for name in names]
        for steps in args.steps:
            preds = refine_drive(args.weights, frames, read_odometry_intrinsics(seq_dir),
                                 targets, steps, args.lr, args.window,
                                 depth_lr_scale=args.depth_lr_scale)
            scores = evaluate_depths(zip(gts, preds), True)
            bands = distance_bands(zip(gts, preds))
            results.setdefault(drive, {})[steps] = {'depth': scores, 'bands': bands}
            near = bands[0] if bands[0]['hi'] <= 5 else None
            print(f'{drive[-9:-5]:<10}{steps:>6}{scores["abs_rel"]:>9.3f}{scores["a1"]:>7.3f}'
                  + (f'{near["abs_rel"]:>15.3f}{near["ratio"]:>13.2f}' if near else ''),
                  flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'results.json').write_text(json.dumps(
        {'weights': args.weights, 'lr': args.lr, 'window': args.window,
         'depth_lr_scale': args.depth_lr_scale,
         'drives': results}, indent=2))
    print(f'written: {args.out}/results.json')


if __name__ == '__main__':
    main()
