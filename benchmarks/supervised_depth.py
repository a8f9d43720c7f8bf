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

"""What the depth network can learn from these images when it is told the answer.

Run ``python -m benchmarks.supervised_depth --data DATA`` from the repository root
(``--help``). A diagnostic, not a recipe: it trains the depth network alone on the true
depth of ``DATA``'s training drives (a rendered dataset folder as ``prepare render``
writes it) with the scale-invariant log loss of Eigen et al. (``mean(d^2) - 0.85
mean(d)^2``, ``d = log(prediction) - log(truth)`` over pixels with a truth), then scores
the held-out test drives as ``evaluate`` does (Eigen protocol, median-scaled, and by
distance band). One run from the given weights (``--init``, the default weights
otherwise) and, with ``--scratch``, one from random weights of the same architecture.

What it answers: self-supervised training draws near objects too far even on its own
training frames. If the same network, supervised, draws them right on frames it has never
seen, the images carry the cue at this resolution and the photometric signal is what
fails; if it still draws them too far, the cue is not there to learn (resolution, data).
Writes ``results.json`` and ``curves.png`` (held-out abs_rel and the 0-5 m ratio against
steps) under ``--out``.
"""

import argparse
import copy
import json
from pathlib import Path
import sys
from typing import Dict, List, Optional, Tuple

from mono_depth_ros.core.config import from_dict, ModelConfig
from mono_depth_ros.core.inference import frames_to_tensor
from mono_depth_ros.core.networks import build_networks, DispNet
from mono_depth_ros.core.weights import load_networks
from mono_depth_ros.data.kitti import KittiDrive
from mono_depth_ros.evaluation.plots import save_curves
from mono_depth_ros.runtime.pipeline import upsample_depth
from mono_depth_ros.weights import default_weights
from mono_depth_ros_training.evaluate import evaluate_depth_split
import numpy as np
import torch
from tqdm import tqdm

SI_LAMBDA = 0.85  # Eigen et al.'s weight of the mean term: 1 = fully scale-invariant


def training_drives(data: Path) -> List[KittiDrive]:
    """Return the training drives that ``dataset.json`` lists (``prepare render`` writes it)."""
    meta = json.loads((data / 'dataset.json').read_text())
    drives = [KittiDrive(data / 'kitti_raw' / name[:10] / name) for name in meta['drives']]
    if not drives:
        raise SystemExit(f'{data}: no training drives in dataset.json')
    return drives


def load_training_frames(drives: List[KittiDrive], size: Tuple[int, int]
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, H, W)`` and true depth ``(N, 1, H, W)`` (NaN: none) of ``drives``."""
    images, depths = [], []
    for drive in drives:
        for frame in drive.frames:
            images.append(drive.image(frame))
            depth, _ = upsample_depth(drive.depth(frame), np.eye(3), size)  # nearest
            depths.append(depth)
    return (frames_to_tensor(images, size),
            torch.from_numpy(np.stack(depths).astype(np.float32))[:, None])


def scale_invariant_loss(disparity: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Eigen's scale-invariant log loss of ``1 / disparity`` against ``truth`` (NaN skipped)."""
    valid = torch.isfinite(truth) & (truth > 0)
    d = (-torch.log(disparity) - torch.log(truth.clamp(min=1e-3)))[valid]
    return (d ** 2).mean() - SI_LAMBDA * d.mean() ** 2


def write_training_list(drives: List[KittiDrive], out: Path, every: int = 3) -> Path:
    """Write every ``every``-th frame of ``drives`` as an Eigen-style list; return its path."""
    lines = []
    for drive in drives:
        lines += [f'{drive.name[:10]}/{drive.name}/image_02/data/{frame}.png'
                  for frame in drive.frames[::every]]
    out.mkdir(parents=True, exist_ok=True)
    path = out / 'training_frames.txt'
    path.write_text('\n'.join(lines) + '\n')
    return path


def score(net: DispNet, data: Path, size: Tuple[int, int],
          frames: Optional[Path] = None) -> Dict:
    """Depth metrics of ``net`` on ``frames`` (a list; default the held-out test split)."""
    frames = frames or data / 'test_files_eigen.txt'
    result = evaluate_depth_split(net, size, data / 'kitti_raw', frames)
    return {'abs_rel': result['median_scaled']['abs_rel'], 'a1': result['median_scaled']['a1'],
            'per_drive': {k: v['abs_rel'] for k, v in result['per_drive'].items()},
            'near_ratio': {k: v[0]['ratio'] for k, v in result['bands'].items()},
            'near_abs_rel': {k: v[0]['abs_rel'] for k, v in result['bands'].items()}}


def train(net: DispNet, images: torch.Tensor, depths: torch.Tensor, data: Path,
          size: Tuple[int, int], steps: int, lr: float, batch: int, every: int,
          seed: int) -> List[Dict]:
    """Train ``net`` on the true depth; return the held-out scores at every ``every`` steps."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history = [{'step': 0, **score(net, data, size)}]
    for step in tqdm(range(1, steps + 1), desc='supervised', leave=False):
        net.train()
        idx = torch.randint(0, len(images), (batch,), generator=gen)
        flip = torch.rand(()) < 0.5  # mirroring: the one augmentation that keeps depth exact
        x, y = images[idx], depths[idx]
        if flip:
            x, y = x.flip(-1), y.flip(-1)
        loss = sum(scale_invariant_loss(d, torch.nn.functional.interpolate(
            y, size=d.shape[-2:], mode='nearest')) for d in net(x)) / 4
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0 or step == steps:
            history.append({'step': step, 'loss': float(loss), **score(net, data, size)})
    net.eval()
    return history


def near_ratio(scores: Dict) -> float:
    """Return the mean over drives of the 0-5 m ratio (prediction over truth; > 1: too far)."""
    return float(np.mean(list(scores['near_ratio'].values())))


def main(argv=None) -> int:
    """Train the requested runs side by side, print the table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=Path, required=True)
    parser.add_argument('--init', default=str(default_weights()))
    parser.add_argument('--scratch', action='store_true',
                        help='also train the same architecture from random weights')
    parser.add_argument('--steps', type=int, default=2000)
    parser.add_argument('--every', type=int, default=500)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--lr', type=float, default=1e-4, help='from --init (scratch: 10x)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', type=Path, default=Path('outputs/supervised_depth'))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    depth_net, _, meta = load_networks(args.init)
    size = tuple(meta['input_size'])
    drives = training_drives(args.data)
    images, depths = load_training_frames(drives, size)
    print(f'{len(images)} training frames at {size[1]}x{size[0]}', flush=True)
    runs = {'init': (copy.deepcopy(depth_net), args.lr)}
    if args.scratch:
        config = from_dict(ModelConfig, meta['model'], 'model')  # as load_networks reads it
        runs['scratch'] = (build_networks(config)[0], args.lr * 10)
    results = {'init': args.init, 'data': str(args.data), 'steps': args.steps, 'runs': {}}
    training_list = write_training_list(drives, args.out)
    results['training_frames'] = {'weights': score(depth_net, args.data, size, training_list)}
    for name, (net, lr) in runs.items():
        results['runs'][name] = train(net, images, depths, args.data, size, args.steps, lr,
                                      args.batch, args.every, args.seed)
        results['training_frames'][name] = score(net, args.data, size, training_list)
    (args.out / 'results.json').write_text(json.dumps(results, indent=2))
    curves = {}
    for name, history in results['runs'].items():
        curves[f'{name}: abs_rel'] = [h['abs_rel'] for h in history]
        curves[f'{name}: 0-5 m ratio (mean of drives)'] = [near_ratio(h) for h in history]
    save_curves(args.out / 'curves.png', curves, ylabel='held-out',
                title='depth network trained on the true depth',
                x=[h['step'] for h in next(iter(results['runs'].values()))])
    for name, history in results['runs'].items():
        for h in history:
            drives = ' '.join(f'{k[-9:-5]} {v:.3f} ({h["near_ratio"][k]:.2f}x)'
                              for k, v in h['per_drive'].items())
            print(f'{name:8s} step {h["step"]:5d} abs_rel {h["abs_rel"]:.3f} a1 '
                  f'{h["a1"]:.3f} | drive abs_rel (0-5 m ratio): {drives}')
    for name, h in results['training_frames'].items():
        print(f'training frames, {name}: abs_rel {h["abs_rel"]:.3f} a1 {h["a1"]:.3f}, '
              f'0-5 m ratio {near_ratio(h):.2f}, 0-5 m abs_rel '
              f'{np.mean(list(h["near_abs_rel"].values())):.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
