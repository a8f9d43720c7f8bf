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

"""What online fine-tuning does to the shipped weights on a scene unlike their training data.

Run ``python -m benchmarks.online_quality`` from the repository root (``--help``). For each
camera path through the rendered hall (:func:`mono_depth_ros.sim.scene.hall`: a wheeled
robot weaving gently, several seeds, and a handheld camera whose yaw wanders), it
fine-tunes the shipped weights on the first frames exactly as ``test/test_online.py`` does
and prints, side by side, the photometric error and the median-scaled depth error on the
later frames before and after, with their ratios, and the odometry on those frames: 5-frame
ATE, frame-to-frame rotation error and rotation gain (1 is right, 0 never turns). Writes
``results.json`` and ``depth.png`` (ground truth | before | after for one unseen frame per
path) to ``--out``. About a minute per path on a 2-core CPU.
"""

import argparse
import json
from pathlib import Path

from benchmarks.adaptation import finetune_on_sequence
from mono_depth_ros.core.weights import read_weights
from mono_depth_ros.evaluation.depth import depth_metrics
from mono_depth_ros.evaluation.plots import save_depth_grid
from mono_depth_ros.sim.dataset import default_intrinsics, render_sequence
from mono_depth_ros.sim.motion import car_trajectory, handheld_trajectory
from mono_depth_ros.sim.scene import hall
from mono_depth_ros.weights import DEFAULT_WEIGHTS
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]


def paths(robot_seeds, handheld_seeds, frames):
    """Name and poses of every camera path."""
    for seed in robot_seeds:
        yield f'robot seed {seed}', car_trajectory(frames, seed=seed, speed=0.25,
                                                   max_lateral=0.4, stop_probability=0.0)
    for seed in handheld_seeds:
        yield f'handheld seed {seed}', handheld_trajectory(frames, seed=seed, speed=0.25,
                                                           lateral=0.0, height_drop=0.0)


def median_scaled(prediction, truth):
    """``prediction`` times the median scale the depth metrics use for this frame."""
    return prediction * depth_metrics(truth, prediction, garg_crop=False)[1]


def main(argv=None) -> None:
    """Fine-tune on every path and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--weights', default=str(DEFAULT_WEIGHTS))
    parser.add_argument('--robot-seeds', type=int, nargs='*', default=[5, 6, 7])
    parser.add_argument('--handheld-seeds', type=int, nargs='*', default=[5])
    parser.add_argument('--frames', type=int, default=32)
    parser.add_argument('--train-frames', type=int, default=20)
    parser.add_argument('--steps', type=int, default=80)
    parser.add_argument('--depth-lr-scale', type=float, default=0.1,
                        help="the depth network's share of the learning rate (the node's "
                        'online_depth_lr_scale; 1 = as fast as the ego-motion network)')
    parser.add_argument('--out', default='outputs/online_quality')
    args = parser.parse_args(argv)
    h, w = read_weights(args.weights)[1]['input_size']
    k = default_intrinsics(h, w)
    todo = list(paths(args.robot_seeds, args.handheld_seeds, args.frames))
    rows, images, columns = [], [], {'ground truth': [], 'before': [], 'after': []}
    for name, poses in tqdm(todo, desc='paths'):
        seq = render_sequence(hall(), poses, k, h, w, progress=False, name=name)
        result = finetune_on_sequence(args.weights, seq, args.train_frames, args.steps,
                                      depth_lr_scale=args.depth_lr_scale)
        before, after = result.before, result.after
        rows.append({'path': name, 'swaps': result.trainer.swaps,
                     **{f'{key}_{when}': getattr(scores, key)
                        for when, scores in (('before', before), ('after', after))
                        for key in ('reconstruction', 'abs_rel', 'ate', 'rotation_error_deg',
                                    'rotation_gain')}})
        middle = (args.frames - args.train_frames) // 2
        truth = seq.depths[args.train_frames + middle]
        images.append(seq.images[args.train_frames + middle])
        columns['ground truth'].append(truth)
        columns['before'].append(median_scaled(before.depths[middle], truth))
        columns['after'].append(median_scaled(after.depths[middle], truth))
    print(f'\nshipped weights fine-tuned {args.steps} steps on frames 0-{args.train_frames - 1}'
          f' of each path; scores on frames {args.train_frames}-{args.frames - 1}')
    print('| path | photometric | ratio | abs_rel | ratio | ATE(5) m | rotation error deg '
          '| rotation gain |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for r in rows:
        cells = [r['path']]
        for key, ratio in (('reconstruction', True), ('abs_rel', True), ('ate', False),
                           ('rotation_error_deg', False), ('rotation_gain', False)):
            cells.append(f"{r[key + '_before']:.3f} -> {r[key + '_after']:.3f}")
            if ratio:
                cells.append(f"{r[key + '_after'] / r[key + '_before']:.3f}")
        print('| ' + ' | '.join(cells) + ' |')
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'results.json').write_text(json.dumps({'args': vars(args), 'rows': rows}, indent=2))
    save_depth_grid(out / 'depth.png', images, columns,
                    title='online fine-tuning in the hall, one unseen frame per path '
                          '(median-scaled); rows: ' + ', '.join(name for name, _ in todo))
    print(f'wrote {out / "results.json"} and {out / "depth.png"}')


if __name__ == '__main__':
    main()
