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

"""The training demo: learn depth and ego-motion from a rendered video in a few CPU minutes.

No camera, no data download and no ROS needed. The demo renders a short drive down a
street (exact depth and poses known), trains the compact networks from the video alone with
the full vid2depth loss (photometric, SSIM, smoothness and the ICP 3D loss) through the
package's one training step, and measures depth error against the rendered ground truth on
a held-out drive, before and after training. It writes pictures (depth colour maps, loss
curve), the weights (safetensors + JSON metadata) and a JSON summary to the output folder.

Run ``python -m mono_depth_ros_training.demo --help`` for the options.

May import: the ``mono_depth_ros`` library (core, sim, evaluation) and this package.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import time
from typing import Dict, List

from mono_depth_ros.core.config import from_dict, LossConfig, ModelConfig
from mono_depth_ros.core.inference import frames_to_tensor, photometric_error, predict_depths
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.core.step import train_step
from mono_depth_ros.core.weights import load_networks, save_networks
from mono_depth_ros.evaluation.depth import evaluate_depths
from mono_depth_ros.evaluation.plots import save_curves, save_depth_grid
from mono_depth_ros.sim.dataset import default_intrinsics, render_sequence, RenderedSequence
from mono_depth_ros.sim.scene import drive, street
from mono_depth_ros_training.config import config_path
import numpy as np
import torch
from tqdm import tqdm
import yaml


def _configs(args: argparse.Namespace):
    with open(config_path(args.config)) as handle:
        raw = yaml.safe_load(handle)
    model = from_dict(ModelConfig, {**raw.get('model', {}), 'height': args.height,
                                    'width': args.width, 'depth_width': args.net_width,
                                    'egomotion_width': args.net_width}, 'model')
    loss = from_dict(LossConfig, {**raw.get('loss', {}),
                                  'icp_association': args.icp_association}, 'loss')
    return model, loss


def _render(args: argparse.Namespace, model: ModelConfig):
    """Render the training drive and the held-out drive (same street, another path)."""
    h, w = model.height, model.width
    k = default_intrinsics(h, w)
    scene = street(args.seed)
    train_poses = drive(args.frames, start=0.0)
    train = render_sequence(scene, torch.stack(train_poses), k, h, w, supersample=3,
                            name='train drive')
    test_poses = drive(args.test_frames, step=0.4, yaw_rate=-0.012, start=3.0, lateral=0.8)
    test = render_sequence(scene, torch.stack(test_poses), k, h, w, supersample=3,
                           name='test drive')
    return train, test


def _abs_rel(test: RenderedSequence, depths: List[np.ndarray]) -> float:
    """Median-scaled abs rel over the whole image (no Garg crop, 80 m cap)."""
    return evaluate_depths(zip(test.depths, depths), median_scaling=True,
                           garg_crop=False)['abs_rel']


def _train(args, model: ModelConfig, loss: LossConfig, depth_net, ego_net,
           train: RenderedSequence) -> List[float]:
    images = frames_to_tensor(train.images, (model.height, model.width))
    k = torch.as_tensor(train.intrinsics, dtype=torch.float32)
    params = list(depth_net.parameters()) + list(ego_net.parameters())
    optimiser = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999))
    seq = model.seq_length
    starts = torch.arange(len(images) - seq + 1)
    losses: List[float] = []
    bar = tqdm(range(args.steps), desc='training')
    for _ in bar:
        depth_net.train()
        ego_net.train()
        pick = starts[torch.randint(len(starts), (args.batch,))]
        snippets = torch.stack([images[s:s + seq] for s in pick.tolist()])
        result = train_step(depth_net, ego_net, optimiser, snippets,
                            k.expand(len(snippets), 3, 3), loss)
        figures = result.figures()
        if not result.applied:
            raise FloatingPointError(f'loss became {figures["total"]}; terms: {figures}')
        losses.append(figures['total'])
        bar.set_postfix(loss=f'{losses[-1]:.4f}', icp=f'{figures["icp_transform"]:.4f}')
    return losses


def run(args: argparse.Namespace) -> Dict[str, float]:
    """Render, train, evaluate and save; return the summary."""
    torch.manual_seed(args.seed)
    model, loss = _configs(args)
    size = (model.height, model.width)
    train, test = _render(args, model)
    test_images = frames_to_tensor(test.images, size)
    depth_net, ego_net = build_networks(model)
    before = predict_depths(depth_net, test.images, size)
    photo_before = photometric_error(depth_net, ego_net, test_images, test.intrinsics)
    t0 = time.perf_counter()
    losses = _train(args, model, loss, depth_net, ego_net, train)
    train_secs = time.perf_counter() - t0
    after = predict_depths(depth_net, test.images, size)
    photo_after = photometric_error(depth_net, ego_net, test_images, test.intrinsics)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / 'weights.safetensors'
    save_networks(weights, depth_net, ego_net, model,
                  training={'loss': loss.to_dict(), 'steps': args.steps, 'batch': args.batch,
                            'lr': args.lr, 'seed': args.seed},
                  extra={'data': f'rendered street, seed {args.seed}, {args.frames} frames'})
    reloaded, _, _ = load_networks(weights)
    same = all(np.array_equal(a, b) for a, b in zip(predict_depths(reloaded, test.images[:2],
                                                                   size), after[:2]))
    rows = np.linspace(0, len(test) - 1, min(3, len(test))).round().astype(int)
    save_depth_grid(out / 'depth.png', [test.images[i] for i in rows],
                    {'ground truth': [test.depths[i] for i in rows],
                     'untrained': [before[i] for i in rows],
                     'trained': [after[i] for i in rows]},
                    title='held-out drive: inverse depth (each map on its own scale)')
    save_curves(out / 'loss.png', {'total loss': losses}, ylabel='total loss',
                title='vid2depth loss (with ICP 3D term)')
    summary = {
        'abs_rel_untrained': _abs_rel(test, before),
        'abs_rel_trained': _abs_rel(test, after),
        'photometric_untrained': photo_before,
        'photometric_trained': photo_after,
        'loss_first_10': float(np.mean(losses[:10])),
        'loss_last_10': float(np.mean(losses[-10:])),
        'train_frames_per_s': args.steps * args.batch * model.seq_length / train_secs,
        'weights_reload_identical': bool(same),
    }
    (out / 'summary.json').write_text(json.dumps(summary, indent=2))
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (defaults: a 2-3 minute run on a 2-core CPU)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='train',
                        help='model/loss YAML, or a shipped configuration name')
    parser.add_argument('--output', default='outputs/train_demo', help='output folder')
    parser.add_argument('--steps', type=int, default=150)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--frames', type=int, default=40, help='training video length')
    parser.add_argument('--test-frames', type=int, default=8)
    parser.add_argument('--height', type=int, default=48)
    parser.add_argument('--width', type=int, default=160)
    parser.add_argument('--net-width', type=float, default=0.25,
                        help='channel multiplier (0.25 = compact)')
    parser.add_argument('--icp-association', default='projective',
                        choices=('nearest', 'projective'))
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Run the demo and print its summary."""
    args = parse_args(argv)
    summary = run(args)
    print('\nvid2depth training demo on a rendered drive (held-out drive, ground truth known)')
    for key, value in summary.items():
        print(f'  {key:<28} {value:.4f}' if isinstance(value, float) else
              f'  {key:<28} {value}')
    print(f'  outputs in {args.output}: depth.png, loss.png, weights.safetensors, '
          'summary.json')


if __name__ == '__main__':
    main()
