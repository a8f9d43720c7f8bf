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

"""The main job on an embedded default: learn depth and ego-motion from a rendered video.

No camera, no data download and no ROS needed. The demo renders a short drive down a
street (exact depth and poses known), trains the compact networks from the video alone with
the full vid2depth loss (photometric, SSIM, smoothness and the ICP 3D loss), and measures
depth error against the rendered ground truth on a held-out drive, before and after
training. It writes pictures (depth colour maps, loss curve), the weights (safetensors +
JSON metadata) and a JSON summary to the output folder.

Run ``python -m mono_depth_ros.train_demo --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import time
from typing import Dict, List, Tuple

from mono_depth_ros.core.config import from_dict, LossConfig, ModelConfig
from mono_depth_ros.core.losses import snippet_loss
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.core.weights import load_networks, save_networks
from mono_depth_ros.evaluation.depth import evaluate_depths
from mono_depth_ros.sim.scene import drive, render, street
import numpy as np
import torch
from tqdm import tqdm
import yaml

CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'train.yaml'


def render_drive(poses, k, height, width, scene) -> Tuple[torch.Tensor, torch.Tensor]:
    """Render images ``(N, 3, H, W)`` and depths ``(N, 1, H, W)`` (float32)."""
    images, depths = [], []
    for pose in tqdm(poses, desc='rendering', leave=False):
        image, depth = render(scene, pose, k.double(), height, width, supersample=3)
        images.append(image.float())
        depths.append(depth.float())
    return torch.stack(images), torch.stack(depths)


def median_scaled_abs_rel(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """Mean absolute relative error after per-image median scaling (whole image, 80 m cap)."""
    pairs = [(g[0].numpy(), p[0].numpy()) for p, g in zip(pred, gt)]
    return evaluate_depths(pairs, median_scaling=True, garg_crop=False)['abs_rel']


def predict_depth(depth_net, images: torch.Tensor) -> torch.Tensor:
    """Full-resolution depth ``(N, 1, H, W)`` from the depth network in eval mode."""
    depth_net.eval()
    with torch.no_grad():
        return 1.0 / depth_net(images)[0]


def photometric_error(depth_net, ego_net, images: torch.Tensor, k: torch.Tensor,
                      seq: int) -> float:
    """Masked L1 reconstruction error on consecutive snippets of a held-out video."""
    depth_net.eval()
    ego_net.eval()
    cfg = LossConfig(ssim_weight=0.0, smoothness_weight=0.0, icp_weight=0.0)
    snippets = torch.stack([images[s:s + seq] for s in range(len(images) - seq + 1)])
    with torch.no_grad():
        terms = snippet_loss(depth_net, ego_net, snippets, k.expand(len(snippets), 3, 3), cfg)
    return terms['reconstruction'].item()


def save_pictures(out: Path, images, gt, before, after, losses: List[float]) -> None:
    """Write ``depth.png`` (image, truth, before, after) and ``loss.png``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = min(3, len(images))
    idx = np.linspace(0, len(images) - 1, rows).round().astype(int)
    fig, axes = plt.subplots(rows, 4, figsize=(16, 1.3 * rows + 0.6), squeeze=False)
    for r, i in enumerate(idx):
        scale_b = gt[i].median() / before[i].median()
        scale_a = gt[i].median() / after[i].median()
        panels = [images[i].permute(1, 2, 0).numpy(), 1 / gt[i, 0].numpy(),
                  1 / (before[i, 0] * scale_b).numpy(), 1 / (after[i, 0] * scale_a).numpy()]
        titles = ['input', 'true inverse depth', 'untrained (median-scaled)',
                  'trained (median-scaled)']
        vmax = float(panels[1].max())
        for c, (panel, title) in enumerate(zip(panels, titles)):
            ax = axes[r, c]
            if c == 0:
                ax.imshow(panel)
            else:
                ax.imshow(panel, cmap='magma', vmin=0, vmax=vmax)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / 'depth.png', dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(losses, lw=0.8)
    ax.set_xlabel('step')
    ax.set_ylabel('total loss')
    ax.set_title('vid2depth loss (with ICP 3D term)')
    fig.tight_layout()
    fig.savefig(out / 'loss.png', dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> Dict[str, float]:
    """Render, train, evaluate and save; return the summary."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with open(args.config) as handle:
        raw = yaml.safe_load(handle)
    model_cfg = from_dict(ModelConfig, {**raw.get('model', {}), 'height': args.height,
                                        'width': args.width, 'depth_width': args.net_width,
                                        'egomotion_width': args.net_width}, 'model')
    loss_cfg = from_dict(LossConfig, {**raw.get('loss', {}),
                                      'icp_association': args.icp_association}, 'loss')
    h, w = model_cfg.height, model_cfg.width
    f = 0.58 * w
    k = torch.tensor([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    scene = street(args.seed)
    train_images, _ = render_drive(drive(args.frames, start=0.0), k, h, w, scene)
    test_poses = drive(args.test_frames, step=0.4, yaw_rate=-0.012, start=3.0, lateral=0.8)
    test_images, test_depths = render_drive(test_poses, k, h, w, scene)

    depth_net, ego_net = build_networks(model_cfg)
    before = predict_depth(depth_net, test_images)
    photo_before = photometric_error(depth_net, ego_net, test_images, k,
                                     model_cfg.seq_length)
    params = list(depth_net.parameters()) + list(ego_net.parameters())
    optimiser = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999))
    seq = model_cfg.seq_length
    starts = torch.arange(len(train_images) - seq + 1)
    losses: List[float] = []
    t0 = time.perf_counter()
    bar = tqdm(range(args.steps), desc='training')
    for _ in bar:
        depth_net.train()
        ego_net.train()
        pick = starts[torch.randint(len(starts), (args.batch,))]
        snippets = torch.stack([train_images[s:s + seq] for s in pick.tolist()])
        terms = snippet_loss(depth_net, ego_net, snippets, k.expand(len(snippets), 3, 3),
                             loss_cfg)
        if not torch.isfinite(terms['total']):
            raise FloatingPointError(f'loss became {terms["total"].item()}; terms: '
                                     f'{ {n: v.item() for n, v in terms.items()} }')
        optimiser.zero_grad()
        terms['total'].backward()
        optimiser.step()
        losses.append(terms['total'].item())
        bar.set_postfix(loss=f'{losses[-1]:.4f}', icp=f'{terms["icp_transform"].item():.4f}')
    train_secs = time.perf_counter() - t0
    after = predict_depth(depth_net, test_images)
    photo_after = photometric_error(depth_net, ego_net, test_images, k, model_cfg.seq_length)

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / 'weights.safetensors'
    save_networks(weights, depth_net, ego_net, model_cfg,
                  training={'loss': loss_cfg.to_dict(), 'steps': args.steps,
                            'batch': args.batch, 'lr': args.lr, 'seed': args.seed},
                  extra={'data': f'rendered street, seed {args.seed}, {args.frames} frames'})
    reloaded, _, _ = load_networks(weights)
    same = torch.equal(predict_depth(reloaded, test_images[:2]),
                       predict_depth(depth_net, test_images[:2]))
    save_pictures(out, test_images, test_depths, before, after, losses)
    summary = {
        'abs_rel_untrained': median_scaled_abs_rel(before, test_depths),
        'abs_rel_trained': median_scaled_abs_rel(after, test_depths),
        'photometric_untrained': photo_before,
        'photometric_trained': photo_after,
        'loss_first_10': float(np.mean(losses[:10])),
        'loss_last_10': float(np.mean(losses[-10:])),
        'train_frames_per_s': args.steps * args.batch * seq / train_secs,
        'weights_reload_identical': bool(same),
    }
    (out / 'summary.json').write_text(json.dumps(summary, indent=2))
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (defaults: a 2-3 minute run on a 2-core CPU)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=str(CONFIG), help='model/loss YAML')
    parser.add_argument('--output', default='outputs/demo', help='output folder')
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
    print('\nvid2depth demo on a rendered drive (held-out test drive, ground truth known)')
    for key, value in summary.items():
        print(f'  {key:<28} {value:.4f}' if isinstance(value, float) and not isinstance(
            value, bool) else f'  {key:<28} {value}')
    print(f'  outputs in {args.output}: depth.png, loss.png, weights.safetensors, '
          'summary.json')


if __name__ == '__main__':
    main()
