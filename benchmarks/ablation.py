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


"""The paper's ablation on rendered data: full loss vs no 3D loss, no SSIM, no masks.

Run ``python -m benchmarks.ablation`` from the repository root (``--help`` for the budget).
It renders a training set and a separate test set (other streets; exact depth and poses),
trains the compact networks (``training/configs/compact.yaml``) from scratch once per variant with
the same seed, data order and budget, evaluates each on the test set (Eigen-protocol depth
metrics, 5-frame ATE), and prints one table with the training throughput. Defaults take
about 22 minutes on a 2-core CPU, plus about 15 to render the data once. Results land in
``outputs/ablation/`` (``results.json``, pictures per variant).
"""

import argparse
import json
from pathlib import Path
import time

from mono_depth_ros.evaluation.depth import DEPTH_METRICS
from mono_depth_ros_training.config import load_config
from mono_depth_ros_training.evaluate import evaluate, format_table
from mono_depth_ros_training.prepare import render_dataset
from mono_depth_ros_training.train import train
import torch

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {
    'full (with 3D loss)': [],
    'no 3D loss': ['loss.icp_weight=0.0'],
    'no SSIM': ['loss.ssim_weight=0.0'],
    'no masks': ['loss.use_masks=false'],
}


def main(argv=None) -> None:
    """Render, train every variant, evaluate, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=ROOT / 'outputs' / 'ablation')
    parser.add_argument('--steps', type=int, default=800)
    parser.add_argument('--size', default='48x160', help='network input HxW')
    parser.add_argument('--train-sequences', type=int, default=8)
    parser.add_argument('--frames', type=int, default=50)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--variants', nargs='*', choices=sorted(VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument('--reuse', action='store_true',
                        help="reuse a variant's saved result.json instead of retraining")
    args = parser.parse_args(argv)
    h, w = (int(v) for v in args.size.split('x'))
    data = args.out / 'data'
    if not (data / 'prepared' / 'train.txt').is_file():
        render_dataset(data, (h, w), args.train_sequences, args.frames, test_sequences=2,
                       test_frames=30, seed=1)
    results = {}
    for name, overrides in VARIANTS.items():
        if name not in args.variants:
            continue
        slug = name.split(' (')[0].replace(' ', '_')
        # The compact CPU configuration (the one that trains the shipped weights), with
        # one loss term switched off per variant.
        config = load_config('compact', [
            f'data.root={data / "prepared"}', f'model.height={h}', f'model.width={w}',
            f'optim.steps={args.steps}', f'output.folder={args.out / slug}',
            'output.checkpoint_every=1000000', 'output.tensorboard=false',
            'data.workers=1'] + overrides)
        saved = args.out / slug / 'result.json'
        if args.reuse and saved.is_file():
            results[name] = json.loads(saved.read_text())
            continue
        print(f'\n== {name}: {" ".join(overrides) or "paper loss"}', flush=True)
        t0 = time.perf_counter()
        summary = train(config, args.device)
        metrics = evaluate(args.out / slug / 'weights.safetensors', data, args.out / slug)
        results[name] = {
            **metrics['depth']['median_scaled'],
            'ate_mean': sum(v['ate_mean'] for v in metrics['pose'].values())
            / len(metrics['pose']),
            'frames_per_s': summary['frames_per_s'],
            'minutes': (time.perf_counter() - t0) / 60,
        }
        saved.write_text(json.dumps(results[name], indent=2))
    (args.out / 'results.json').write_text(json.dumps(results, indent=2))
    print(f'\nAblation on rendered data ({args.size}, {args.steps} steps, batch 4, '
          f'{args.device}); depth: Eigen protocol, median-scaled; ATE: 5-frame snippets (m)')
    print(format_table(results, DEPTH_METRICS + ('ate_mean', 'frames_per_s')))
    print(f'written: {args.out}/results.json and per-variant depth/trajectory pictures')


if __name__ == '__main__':
    main()
