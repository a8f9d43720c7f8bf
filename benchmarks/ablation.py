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


"""The paper's ablation on rendered data, for the first recipe or the current one.

Run ``python -m benchmarks.ablation`` from the repository root (``--help`` for the budget).
``--config compact`` (the default): the paper's ablation on the first compact recipe (full
loss vs no 3D loss, no SSIM, no masks), on a dataset it renders itself. ``--config
compact_v3 --data outputs/data_v3``: the current recipe against each of its options
switched off or on (minimum reprojection, auto-masking, full-resolution photometric terms,
the 3D loss, ego-motion batch norm), on that recipe's data; ``--config compact_v4 --data
outputs/data_v3 --extra-data outputs/data_v4s/prepared``: the fourth recipe against its
translation scale, its street data and the options it keeps; ``--config compact_v5`` (same
data) against no flip and the 3D loss; ``--config compact_v7`` (same data) against
no refinement in the loss, no distillation, one refinement step, flip and the 3D loss.
Every variant trains from
scratch with the same seed, data order and budget (a cosine schedule runs over the
variant's own ``--steps``), is evaluated on the dataset's test sequences (Eigen-protocol
depth metrics, 5-frame ATE, rotation gain and error), and lands in one table with its
training throughput. ``--init WEIGHTS`` starts every variant from those weights instead
(a fine-tuning ablation). Results in ``--out`` (``results.json``, pictures per variant).
"""

import argparse
import json
import os
from pathlib import Path
import time

from mono_depth_ros.evaluation.depth import DEPTH_METRICS
from mono_depth_ros_training.config import keys_set, load_config
from mono_depth_ros_training.evaluate import evaluate, format_table
from mono_depth_ros_training.prepare import render_dataset
from mono_depth_ros_training.train import config_from_weights, train
import torch

ROOT = Path(__file__).resolve().parents[1]

#: configuration -> variant name -> overrides of that configuration
VARIANTS = {
    'compact': {
        'full (with 3D loss)': [],
        'no 3D loss': ['loss.icp_weight=0.0'],
        'no SSIM': ['loss.ssim_weight=0.0'],
        'no masks': ['loss.use_masks=false'],
    },
    'compact_v3': {
        'v3 recipe': [],
        'no min reprojection': ['loss.min_reprojection=false'],
        'no auto-mask': ['loss.auto_mask=false'],
        'full-resolution loss': ['loss.full_resolution=true'],
        'with 3D loss': ['loss.icp_weight=0.1'],
        'no ego-motion batch norm': ['model.egomotion_batch_norm=false'],
    },
    'compact_v4': {
        'v4 recipe': [],
        'no translation scale': ['model.egomotion_translation_scale=1.0'],
        'varied scenes only': ['data.root={data}'],
        'no min reprojection': ['loss.min_reprojection=false'],
        'no auto-mask': ['loss.auto_mask=false'],
        'with 3D loss': ['loss.icp_weight=0.1'],
    },
    'compact_v5': {
        'v5 recipe': [],
        'no flip': ['augment.flip=0.0'],
        'with 3D loss': ['loss.icp_weight=0.1'],
    },
    'compact_v7': {
        'v7 recipe': [],
        'no refinement in the loss': ['loss.refine_iterations=0'],
        'no distillation': ['loss.distillation_weight=0.0'],
        'one refinement step': ['loss.refine_iterations=1'],
        'with flip': ['augment.flip=0.5'],
        'with 3D loss': ['loss.icp_weight=0.1'],
    },
}
POSE_COLUMNS = ('ate_mean', 'rotation_gain', 'rotation_error_deg')


def _parse(argv):
    """Return the parser and the parsed arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', choices=sorted(VARIANTS), default='compact')
    parser.add_argument('--data', type=Path, default=None,
                        help='an existing dataset (prepare render); default: render one')
    parser.add_argument('--out', type=Path, default=None,
                        help='default: outputs/ablation (compact) or outputs/ablation_CONFIG')
    parser.add_argument('--steps', type=int, default=800)
    parser.add_argument('--size', default='48x160', help='network input HxW')
    parser.add_argument('--train-sequences', type=int, default=8)
    parser.add_argument('--frames', type=int, default=50)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--variants', nargs='*', default=None,
                        help='names of the variants to run (default: all of the config)')
    parser.add_argument('--reuse', action='store_true',
                        help="reuse a variant's saved result.json instead of retraining")
    parser.add_argument('--threads', type=int, default=None, help='CPU threads')
    parser.add_argument('--init', default=None,
                        help='start every variant from these weights (their architecture; '
                        "the variant's ego-motion output scales)")
    parser.add_argument('--extra-data', type=Path, nargs='*', default=[],
                        help='more prepared folders trained on with the dataset (its test '
                        'sequences score every variant)')
    return parser, parser.parse_args(argv)


def main(argv=None) -> None:
    """Render, train every variant, evaluate, print the table."""
    parser, args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = VARIANTS[args.config]
    unknown = sorted(set(args.variants or []) - set(variants))
    if unknown:
        parser.error(f'unknown variants {unknown} for {args.config}; known: {sorted(variants)}')
    out = args.out or ROOT / 'outputs' / ('ablation' if args.config == 'compact'
                                          else f'ablation_{args.config}')
    h, w = (int(v) for v in args.size.split('x'))
    data = args.data or out / 'data'
    if not (data / 'prepared' / 'train.txt').is_file():
        render_dataset(data, (h, w), args.train_sequences, args.frames, test_sequences=2,
                       test_frames=30, seed=1)
    results = {}
    for name, overrides in variants.items():
        if args.variants and name not in args.variants:
            continue
        slug = name.split(' (')[0].replace(' ', '_')
        # The configuration with one option switched per variant.
        roots = os.pathsep.join(str(r) for r in [data / 'prepared'] + args.extra_data)
        overrides = [o.format(data=data / 'prepared') for o in overrides]
        given = [f'data.root={roots}', f'model.height={h}', f'model.width={w}',
                 f'optim.steps={args.steps}', f'output.folder={out / slug}',
                 'output.checkpoint_every=1000000', 'output.snapshot_every=0',
                 'output.tensorboard=false', 'data.workers=0'] + overrides
        config = load_config(args.config, given)
        if args.init:
            config = config_from_weights(config, args.init, *keys_set(args.config, given))
        saved = out / slug / 'result.json'
        if args.reuse and saved.is_file():
            results[name] = json.loads(saved.read_text())
            continue
        print(f'\n== {name}: {" ".join(overrides) or "paper loss"}', flush=True)
        t0 = time.perf_counter()
        summary = train(config, args.device, init=args.init)
        metrics = evaluate(out / slug / 'weights.safetensors', data, out / slug)
        results[name] = {
            **metrics['depth']['median_scaled'],
            **{c: sum(v[c] for v in metrics['pose'].values()) / len(metrics['pose'])
               for c in POSE_COLUMNS},
            'frames_per_s': summary['frames_per_s'],
            'minutes': (time.perf_counter() - t0) / 60,
        }
        saved.write_text(json.dumps(results[name], indent=2))
    (out / 'results.json').write_text(json.dumps(results, indent=2))
    print(f'\nAblation on rendered data ({args.size}, {args.steps} steps, batch 4, '
          f'{args.device}, {args.config}); depth: Eigen protocol, median-scaled; ATE: 5-frame '
          'snippets (m); rotation gain and error (deg/frame) of the chained ego-motion')
    print(format_table(results, DEPTH_METRICS + POSE_COLUMNS + ('frames_per_s',)))
    print(f'written: {out}/results.json and per-variant depth/trajectory pictures')


if __name__ == '__main__':
    main()
