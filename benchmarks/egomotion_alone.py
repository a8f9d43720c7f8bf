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

"""Can the ego-motion network learn rotation? Trained alone, with the true depth given.

Run ``python -m benchmarks.egomotion_alone`` from the repository root (``--help``). It
renders training sequences (by default the varied mix of the third recipe: photo-textured
streets, yards and indoor spaces with car, robot and handheld paths; ``--scenes streets``
for the procedural streets), trains only the ego-motion network (by default without batch
norm) with the photometric terms of the vid2depth loss (``--loss v3``: per-pixel minimum
over every other frame and auto-masking; ``paper``: adjacent pairs) while the depth comes
from the renderer, and scores the rotation it predicts on held-out procedural streets of
other seeds (two car drives, one handheld walk):
rotation gain (least-squares gain of predicted on true frame-to-frame rotation vectors; 1
is right) and rotation error in degrees per frame. Each output scale given with
``--scales`` is trained from the same seed on the same data, side by side. The check
passes when the last scale's held-out gain lies in ``[0.9, 1.1]``; the exit status says
so. Writes ``results.json`` and ``rotation_gain.png`` (held-out gain against steps);
rendered sequences are cached under ``OUT/data``.
"""

import argparse
import json
import math
from pathlib import Path
import sys
import time
from typing import Dict, List, Optional

from mono_depth_ros.core.camera import flip_intrinsics
from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.inference import frames_to_tensor, pairwise_motions
from mono_depth_ros.core.losses import vid2depth_loss
from mono_depth_ros.core.networks import disparity_to_depth, EgoMotionNet
from mono_depth_ros.evaluation.plots import save_curves
from mono_depth_ros.evaluation.pose import chain_motions, rotation_scores
from mono_depth_ros.sim.dataset import make_sequence, make_varied_sequence, RenderedSequence
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

#: photometric losses the network can be trained with (``--loss``)
LOSSES = {
    'paper': LossConfig(smoothness_weight=0.0, icp_weight=0.0),
    'v3': LossConfig(smoothness_weight=0.0, icp_weight=0.0, min_reprojection=True,
                     auto_mask=True),
}
MAX_DEPTH = 100.0  # metres given to pixels that see the sky


def _snippets(seqs: List[RenderedSequence], size, gaps=(1,)) -> Dict[str, torch.Tensor]:
    """Cut every 3-frame snippet: images (N, 3, 3, H, W), true depth (N, 3, 1, H, W), K.

    Each gap ``g`` of ``gaps`` gives the snippets of frames ``(s, s + g, s + 2g)``: motions
    ``g`` times a frame's, as a camera ``g`` times as fast or a video at ``1 / g`` the rate.
    """
    images, depths, ks = [], [], []
    for seq in seqs:
        frames = frames_to_tensor(seq.images, size)
        depth = torch.from_numpy(np.minimum(seq.depths, MAX_DEPTH)).float()[:, None]
        for g in gaps:
            for s in range(len(seq) - 2 * g):
                images.append(frames[s:s + 2 * g + 1:g])
                depths.append(depth[s:s + 2 * g + 1:g])
                ks.append(torch.as_tensor(seq.intrinsics, dtype=torch.float32))
    return {'images': torch.stack(images), 'depths': torch.stack(depths),
            'intrinsics': torch.stack(ks)}


def _disparity_pyramid(depth: torch.Tensor, scales: int = 4) -> List[torch.Tensor]:
    """Return the true disparity ``(B, S, 1, h, w)`` per scale (area-averaged, finest first)."""
    b, s, _, h, w = depth.shape
    disp = 1.0 / depth.reshape(b * s, 1, h, w)
    out = []
    for level in range(scales):
        size = (-(-h // 2 ** level), -(-w // 2 ** level))
        out.append(F.adaptive_avg_pool2d(disp, size).reshape(b, s, 1, *size))
    return out


def flip_some(images: torch.Tensor, depths: torch.Tensor, intrinsics: torch.Tensor,
              probability: float, generator: torch.Generator):
    """Mirror each snippet left to right with ``probability`` (frames, depth, intrinsics)."""
    if probability <= 0:
        return images, depths, intrinsics
    chosen = torch.rand(len(images), generator=generator) < probability
    if not chosen.any():
        return images, depths, intrinsics
    images, depths, intrinsics = images.clone(), depths.clone(), intrinsics.clone()
    images[chosen] = images[chosen].flip(-1)
    depths[chosen] = depths[chosen].flip(-1)
    intrinsics[chosen] = flip_intrinsics(intrinsics[chosen], images.shape[-1])
    return images, depths, intrinsics


def held_out_rotation(net: EgoMotionNet, seqs: List[RenderedSequence], size) -> Dict:
    """Score ``net``'s rotation on the held-out sequences (gain and error, mean of them)."""
    gt, pred = [], []
    for seq in seqs:
        poses = chain_motions(pairwise_motions(net, list(seq.images), size))
        truth = np.linalg.inv(seq.poses[0]) @ seq.poses
        gt.append(truth)
        pred.append(poses)
    scores = [rotation_scores(g, p) for g, p in zip(gt, pred)]
    gains = [s['rotation_gain'] for s in scores]
    return {'rotation_gain': float(np.mean(gains)),
            'rotation_error_deg': float(np.mean([s['rotation_error_deg'] for s in scores])),
            'per_sequence_gain': gains}


#: rotation gains at which ``--sweep`` evaluates the loss
SWEEP_GAINS = (0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, -1.0)


def loss_along_rotation_gain(seq: RenderedSequence, size, loss_config: LossConfig,
                             gains=SWEEP_GAINS, depth_net=None) -> List[float]:
    """Return the loss with true motion whose rotation is scaled by each gain.

    The depth is the true one, or with ``depth_net`` that network's disparity pyramid, each
    frame scaled so that its median depth is the true median (so the true translation fits
    it). With true depth: if the loss is lowest away from gain 1, the loss itself (masks,
    resolution, minimum reprojection) biases what any network can learn. With a depth
    network's depth: if it is lowest below 1, that depth's errors pull the rotation which
    joint training can reach below the truth.
    """
    from mono_depth_ros.core.geometry import mat_to_pose_vec

    data = _snippets([seq], size)
    poses = torch.from_numpy(seq.poses)
    vec = mat_to_pose_vec(torch.linalg.inv(poses[1:]) @ poses[:-1]).float()  # next_T_prev
    true = torch.stack([vec[s:s + 2] for s in range(len(data['images']))])
    disp = (_disparity_pyramid(data['depths']) if depth_net is None
            else _predicted_pyramid(depth_net, data['images'], data['depths']))
    out = []
    for gain in gains:
        motion = true.clone()
        motion[..., 3:] *= gain
        with torch.no_grad():
            out.append(float(vid2depth_loss(data['images'], data['intrinsics'], disp, motion,
                                            loss_config)['total']))
    return out


@torch.no_grad()
def _predicted_pyramid(depth_net, images: torch.Tensor, depths: torch.Tensor
                       ) -> List[torch.Tensor]:
    """Return the network's disparities ``(B, S, 1, h, w)`` per scale, median-scaled to truth."""
    depth_net.eval()
    b, s = images.shape[:2]
    pyramid = depth_net(images.flatten(0, 1))
    finest = disparity_to_depth(pyramid[0]).flatten(1)
    # depth * k has median equal to the true median: disparity / k at every scale
    k = depths.flatten(0, 1).flatten(1).median(1).values / finest.median(1).values
    return [(d / k[:, None, None, None]).reshape(b, s, *d.shape[1:]) for d in pyramid]


def train_alone(data: Dict[str, torch.Tensor], test: List[RenderedSequence], size,
                scale: float, steps: int, lr: float, batch: int, every: int, seed: int,
                batch_norm: bool = True, loss_config: LossConfig = LOSSES['paper'],
                translation_scale: float = 1.0, train_eval=(), cosine: bool = False,
                width: float = 0.25, flip: float = 0.0) -> Dict:
    """Train an ego-motion network alone; return its held-out curve and final scores.

    ``train_eval`` sequences (of the training set) are scored alongside, to tell a network
    that does not fit from one that does not generalise. ``cosine`` decays the learning rate
    to 5 % of ``lr`` along a half cosine; ``width`` is the network's channel multiplier;
    ``flip`` the probability that a snippet is mirrored (:func:`flip_some`).
    """
    torch.manual_seed(seed)
    net = EgoMotionNet(3, width, batch_norm, scale, translation_scale)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / steps))
        if cosine else 1.0)
    generator = torch.Generator().manual_seed(seed)
    curve, t0 = [], time.perf_counter()
    for step in tqdm(range(steps), desc=f'output scale {scale}'):
        net.train()
        pick = torch.randint(len(data['images']), (batch,), generator=generator)
        images, depths, k = flip_some(data['images'][pick], data['depths'][pick],
                                      data['intrinsics'][pick], flip, generator)
        loss = vid2depth_loss(images, k, _disparity_pyramid(depths), net(images),
                              loss_config)['total']
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if (step + 1) % every == 0 or step + 1 == steps:
            net.eval()
            fit = held_out_rotation(net, list(train_eval), size)['rotation_gain'] \
                if train_eval else float('nan')
            curve.append({'step': step + 1, **held_out_rotation(net, test, size),
                          'training_gain': fit})
    return {'scale': scale, 'translation_scale': translation_scale,
            'seconds': time.perf_counter() - t0, 'curve': curve,
            **{k: curve[-1][k]
               for k in ('rotation_gain', 'rotation_error_deg', 'training_gain')}}


def _render(kinds_seeds, frames: int, size, cache: Path) -> List[RenderedSequence]:
    """Render ``(kind, seed)`` pairs: ``'car'``/``'handheld'`` streets or a varied-mix index.

    Each sequence is kept in ``cache`` as a ``.npz`` (arrays only) and read back on the next
    run with the same kind, seed, length and size.
    """
    out = []
    for kind, seed in tqdm(kinds_seeds, desc='rendering'):
        path = cache / f'{kind}_{seed}_{frames}_{size[0]}x{size[1]}.npz'
        if path.is_file():
            with np.load(path, allow_pickle=False) as f:
                out.append(RenderedSequence(f['images'], f['depths'], f['poses'],
                                            f['intrinsics'], f['timestamps'], path.stem))
            continue
        seq = (make_varied_sequence(kind, frames, seed, *size, progress=False)
               if isinstance(kind, int) else
               make_sequence(kind, frames, seed, *size, progress=False))
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=seq.images, depths=seq.depths, poses=seq.poses,
                 intrinsics=seq.intrinsics, timestamps=seq.timestamps)
        out.append(seq)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=Path('outputs/egomotion_alone'))
    parser.add_argument('--scales', type=float, nargs='+', default=[0.01, 0.1])
    parser.add_argument('--translation-scale', type=float, default=1.0,
                        help='extra factor on the translation outputs')
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--every', type=int, default=250, help='steps between evaluations')
    parser.add_argument('--train-drives', type=int, default=8)
    parser.add_argument('--handheld-every', type=int, default=3,
                        help='with --scenes streets: every n-th training sequence is a '
                        'handheld walk, the others car drives')
    parser.add_argument('--width', type=float, default=0.25,
                        help="the ego-motion network's channel multiplier (shipped: 0.25)")
    parser.add_argument('--schedule', choices=('constant', 'cosine'), default='constant',
                        help='learning rate: constant, or a half cosine down to 5 %%')
    parser.add_argument('--gaps', type=int, nargs='+', default=[1],
                        help='frame gaps of the training snippets (1: consecutive frames; '
                        'held-out scoring is always frame to frame)')
    parser.add_argument('--flip', type=float, default=0.0,
                        help='probability that a training snippet is mirrored left to right')
    parser.add_argument('--frames', type=int, default=40)
    parser.add_argument('--size', default='48x160')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--batch-norm', choices=('on', 'off'), default='off',
                        help='batch normalisation in the ego-motion network')
    parser.add_argument('--loss', choices=sorted(LOSSES), default='v3',
                        help='paper: adjacent pairs; v3: per-pixel minimum over every other '
                        'frame of the snippet and auto-masking')
    parser.add_argument('--scenes', choices=('streets', 'varied'), default='varied',
                        help='training scenes (held-out: procedural streets either way)')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--sweep', action='store_true',
                        help='only print the loss along the rotation gain (true depth and '
                        'motion, rotation scaled) for the held-out and four training '
                        'sequences')
    parser.add_argument('--sweep-weights', default=None,
                        help="with --sweep: this weights file's depth network gives the depth "
                        '(median-scaled per frame) instead of the truth')
    return parser


def _sweep(seqs, size, loss: str, weights: Optional[str] = None) -> int:
    depth_net = None
    if weights:
        from mono_depth_ros.core.weights import load_networks

        depth_net, _, meta = load_networks(weights)
        if tuple(meta['input_size']) != tuple(size):
            raise SystemExit(f'{weights} takes {meta["input_size"]}, not --size {size}')
    print(f'loss ({loss}, depth: {weights or "true"}) at rotation gain '
          + ' '.join(f'{g:g}' for g in SWEEP_GAINS))
    for seq in seqs:
        values = loss_along_rotation_gain(seq, size, LOSSES[loss], depth_net=depth_net)
        best = SWEEP_GAINS[int(np.argmin(values))]
        print(f'{seq.name:<28}' + ' '.join(f'{v:.4f}' for v in values)
              + f'   lowest at {best:g}')
    return 0


def main(argv=None) -> int:
    """Render, train per output scale, print the table; 0 if the check passes."""
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split('x'))
    every = max(1, args.handheld_every)
    train_ids = [(i if args.scenes == 'varied' else
                  'handheld' if i % every == every - 1 else 'car', 100 + i)
                 for i in range(args.train_drives)]
    test_ids = [('car', 900), ('car', 901), ('handheld', 902)]
    train_seqs = _render(train_ids, args.frames, size, args.out / 'data')
    test = _render(test_ids, args.frames, size, args.out / 'data')
    if args.sweep:
        return _sweep(test + train_seqs[:4], size, args.loss, args.sweep_weights)
    data = _snippets(train_seqs, size, args.gaps)
    runs = [train_alone(data, test, size, scale, args.steps, args.lr, args.batch,
                        args.every, args.seed, args.batch_norm == 'on', LOSSES[args.loss],
                        args.translation_scale, train_seqs[:4], args.schedule == 'cosine',
                        args.width, args.flip)
            for scale in args.scales]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'results.json').write_text(json.dumps(
        {'args': {k: str(v) for k, v in vars(args).items()}, 'runs': runs}, indent=2))
    save_curves(args.out / 'rotation_gain.png',
                {f'output scale {r["scale"]}': [c['rotation_gain'] for c in r['curve']]
                 for r in runs}, xlabel=f'evaluation (every {args.every} steps)',
                ylabel='held-out rotation gain', title='ego-motion network alone, true depth')
    print(f'\nego-motion alone, true depth given: {len(data["images"])} training snippets, '
          f'{len(test)} held-out sequences ({", ".join(k for k, _ in test_ids)})')
    print(f'translation scale {args.translation_scale:g}, width {args.width:g}, {args.steps} '
          f'steps ({args.schedule} learning rate), training scenes {args.scenes}, '
          f'flip {args.flip:g}, gaps {" ".join(map(str, args.gaps))}')
    print(f'{"output scale":>12}{"gain":>8}{"error deg":>11}{"train gain":>11}{"s/step":>8}'
          f'  per-sequence gain')
    for r in runs:
        per = ' '.join(f'{g:.2f}' for g in r['curve'][-1]['per_sequence_gain'])
        print(f'{r["scale"]:>12g}{r["rotation_gain"]:>8.3f}{r["rotation_error_deg"]:>11.3f}'
              f'{r["training_gain"]:>11.3f}{r["seconds"] / args.steps:>8.3f}  {per}')
    ok = 0.9 <= runs[-1]['rotation_gain'] <= 1.1
    print(f'check (last scale, held-out gain in [0.9, 1.1]): {"PASS" if ok else "FAIL"}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
