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

"""Held-out scores of weights files, side by side: streets, handheld paths, unseen scenes.

Run ``python -m benchmarks.heldout --weights OLD NEW`` (``--help``). It renders sequences
the training sets never contain: streets of other seeds driven by car and walked by hand
(procedurally textured as the first two recipes' training streets, and photo-textured as
the third's), the indoor hall and a small room with boxes (layouts no training set has;
the varied training set of the third recipe does contain other indoor spaces), and a low
parking garage with rows of pillars (a scene type no training set has). It runs each
weights file on every frame, and prints per sequence: median-scaled abs rel and a1
(whole image, 80 m cap), the mean per-image correlation of log depth with the truth, the
share of per-pixel variance of normalised log depth that one fixed map explains (1 = the
same map whatever the scene), and for the chained ego-motion the rotation gain (1 is right),
the frame-to-frame rotation error and the 5-frame ATE, each also after photometric
refinement of the motions on the depth network's depth
(:func:`~mono_depth_ros.core.inference.refined_motions`, default settings: what the node
publishes with ``pose_refinement_iterations`` at its default). Writes ``results.json`` and
``depth.png`` (one frame per sequence: truth, then each weights file median-scaled to it) to
``--out``. A ``ground truth`` row gives the fixed-map share of the true depth, for scale, and
``content_corr`` correlates what changes from frame to frame in the predicted and the true
depth (:func:`~mono_depth_ros.evaluation.depth.content_correlation`: 0 for one fixed map,
1 for a perfect network).
"""

import argparse
import json
from pathlib import Path
from typing import Dict, List

from mono_depth_ros.core.inference import pairwise_motions, predict_depths, refined_motions
from mono_depth_ros.core.refine import RefineConfig
from mono_depth_ros.core.weights import load_networks
from mono_depth_ros.evaluation.depth import (content_correlation, evaluate_depths,
                                             fixed_map_share, log_correlation, median_scaled)
from mono_depth_ros.evaluation.plots import save_depth_grid
from mono_depth_ros.evaluation.pose import chain_motions, evaluate_trajectory
from mono_depth_ros.sim.dataset import default_intrinsics, render_sequence, RenderedSequence
from mono_depth_ros.sim.layouts import photo_street
from mono_depth_ros.sim.motion import car_trajectory, handheld_trajectory
from mono_depth_ros.sim.scene import box, closed_room, hall, Scene, street
import numpy as np
from tqdm import tqdm


#: Sequences the printed means leave out: the photo-textured walk, broken for every file.
LEFT_OUT_OF_MEANS = ('photo street handheld, seed 505',)


def room() -> Scene:
    """Build a 6 m x 3 m room, 14 m long, with six boxes: no training set has one."""
    rects = list(closed_room(1.2, half_width=3.0, height=3.0, near=-2.0, far=12.0).rectangles)
    for i, (x, z, w) in enumerate(((-1.8, 3.0, 0.8), (1.7, 4.5, 1.0), (-1.5, 6.5, 1.2),
                                   (1.4, 8.0, 0.7), (-0.6, 10.5, 1.5), (1.9, 11.0, 0.9))):
        rects += box((x, 1.2 - w / 2, z), (w, w, w), (0.3 + 0.1 * i, 0.6, 0.9 - 0.1 * i),
                     period=0.3, phase=40.0 + i)
    return Scene(tuple(rects))


def garage() -> Scene:
    """Build a low parking garage: a grid of pillars under a 2.4 m ceiling, parked cars.

    No training set has a ceiling this low or pillars in rows.
    """
    rects = list(closed_room(1.3, half_width=8.0, height=2.4, near=-3.0, far=30.0).rectangles)
    for row, x in enumerate((-4.5, -1.6, 1.6, 4.5)):
        for j, z in enumerate(range(3, 28, 5)):
            rects += box((x, 1.3 - 1.2, float(z)), (0.45, 2.4, 0.45), (0.65, 0.65, 0.6),
                         period=0.4, phase=60.0 + 7 * row + j)
            if (row + j) % 2 == 0 and abs(x) > 2:
                rects += box((x + (1.4 if x > 0 else -1.4), 1.3 - 0.7, z + 2.5),
                             (1.8, 1.4, 4.0), (0.2 + 0.15 * j, 0.3, 0.7 - 0.1 * j),
                             period=0.5, phase=90.0 + 7 * row + j)
    return Scene(tuple(rects))


def corridor() -> Scene:
    """Build a 3.2 m wide, 2.7 m high corridor with four boxes (validation only)."""
    rects = list(closed_room(1.3, half_width=1.6, height=2.7, near=-3.0, far=16.0).rectangles)
    for i, (x, z, w) in enumerate(((0.9, 2.5, 0.6), (-1.0, 5.0, 0.9), (0.8, 8.5, 1.1),
                                   (-0.7, 12.0, 0.7))):
        rects += box((x, 1.3 - w / 2, z), (w, w, w), (0.8 - 0.15 * i, 0.4, 0.3 + 0.15 * i),
                     period=0.35, phase=120.0 + i)
    return Scene(tuple(rects))


def depot() -> Scene:
    """Build a wide 2.8 m high store room with crates in two rows (validation only)."""
    rects = list(closed_room(1.2, half_width=5.0, height=2.8, near=-3.0, far=20.0).rectangles)
    for i, z in enumerate((3.0, 6.0, 9.0, 12.0, 15.0)):
        for side in (-1, 1):
            w = 0.8 + 0.1 * ((i + side) % 3)
            rects += box((side * 2.6, 1.2 - w / 2, z + 0.7 * side), (w, w, w),
                         (0.5 + 0.08 * i, 0.5 - 0.05 * i, 0.4 + 0.2 * (side > 0)),
                         period=0.45, phase=150.0 + 3 * i + side)
    return Scene(tuple(rects))


def validation_sequences(size, frames: int) -> Dict[str, RenderedSequence]:
    """Render the validation sequences (seeds and layouts of their own) for choosing runs.

    Five streets, and two indoor spaces that are neither training layouts nor the
    reported hall, room and garage, so that a choice between runs sees what a change
    does indoors too. Kept apart from :func:`sequences`, so that choosing weights never
    looks at the sequences the README reports.
    """
    k = default_intrinsics(*size)
    specs = {
        'validation street car, seed 601': (street(601, length=120),
                                            car_trajectory(frames, seed=601)),
        'validation street car, seed 602': (street(602, length=120),
                                            car_trajectory(frames, seed=602)),
        'validation street handheld, seed 603': (street(603),
                                                 handheld_trajectory(frames, seed=603)),
        'validation photo street car, seed 604': (photo_street(604, length=120),
                                                  car_trajectory(frames, seed=604)),
        # a slow robot on a street: short-range translation, where refinement can harm
        'validation street robot, seed 606': (street(606),
                                              car_trajectory(frames, seed=606, speed=0.3,
                                                             max_lateral=0.3,
                                                             stop_probability=0.0)),
        'validation corridor robot (indoor)': (corridor(),
                                               car_trajectory(frames, seed=607, speed=0.25,
                                                              max_lateral=0.3,
                                                              stop_probability=0.0)),
        'validation depot handheld (indoor)': (depot(),
                                               handheld_trajectory(frames, seed=608,
                                                                   speed=0.25, lateral=0.0,
                                                                   height_drop=0.0)),
    }
    return {name: render_sequence(scene, poses, k, *size, name=name, progress=False)
            for name, (scene, poses) in tqdm(specs.items(), desc='rendering')}


def sequences(size, frames: int) -> Dict[str, RenderedSequence]:
    """Render the held-out sequences at ``size = (H, W)``."""
    k = default_intrinsics(*size)
    specs = {
        'street car, seed 501': (street(501, length=120), car_trajectory(frames, seed=501)),
        'street car, seed 502': (street(502, length=120), car_trajectory(frames, seed=502)),
        'street handheld, seed 503': (street(503), handheld_trajectory(frames, seed=503)),
        'photo street car, seed 504': (photo_street(504, length=120),
                                       car_trajectory(frames, seed=504)),
        'photo street handheld, seed 505': (photo_street(505, length=90),
                                            handheld_trajectory(frames, seed=505)),
        'hall robot (unseen scene)': (hall(), car_trajectory(frames, seed=5, speed=0.25,
                                                             max_lateral=0.4,
                                                             stop_probability=0.0)),
        'hall handheld (unseen scene)': (hall(), handheld_trajectory(frames, seed=5,
                                                                     speed=0.25, lateral=0.0,
                                                                     height_drop=0.0)),
        'room handheld (unseen scene)': (room(), handheld_trajectory(frames, seed=7,
                                                                     speed=0.2, lateral=0.0,
                                                                     height_drop=0.0)),
        'garage robot (unseen scene)': (garage(), car_trajectory(frames, seed=8, speed=0.3,
                                                                 max_lateral=0.3,
                                                                 stop_probability=0.0)),
    }
    return {name: render_sequence(scene, poses, k, *size, name=name, progress=False)
            for name, (scene, poses) in tqdm(specs.items(), desc='rendering')}


def score(weights: str, seq: RenderedSequence, refine: RefineConfig = RefineConfig()) -> Dict:
    """Score one weights file on one sequence (depth, the network's and refined ego-motion)."""
    depth_net, ego_net, meta = load_networks(weights)
    size = tuple(meta['input_size'])
    frames = list(seq.images)
    depths = predict_depths(depth_net, frames, size)
    metrics = evaluate_depths(zip(seq.depths, depths), garg_crop=False)
    motions = pairwise_motions(ego_net, frames, size, meta['model']['seq_length'])
    truth = np.linalg.inv(seq.poses[0]) @ seq.poses
    trajectory = evaluate_trajectory(truth, chain_motions(motions))
    refined = evaluate_trajectory(truth, chain_motions(
        refined_motions(depth_net, frames, motions, size, seq.intrinsics, refine)))
    return {'abs_rel': metrics['abs_rel'], 'a1': metrics['a1'],
            'log_corr': float(np.mean([log_correlation(g, p)
                                       for g, p in zip(seq.depths, depths)])),
            'fixed_map_share': fixed_map_share(depths),
            'content_corr': content_correlation(seq.depths, depths),
            'rotation_gain': trajectory['rotation_gain'],
            'rotation_error_deg': trajectory['rotation_error_deg'],
            'ate': trajectory['ate_mean'],
            'refined_rotation_gain': refined['rotation_gain'],
            'refined_rotation_error_deg': refined['rotation_error_deg'],
            'refined_ate': refined['ate_mean'], 'depths': depths}


COLUMNS = ('abs_rel', 'a1', 'log_corr', 'fixed_map_share', 'content_corr',
           'rotation_gain', 'rotation_error_deg', 'ate', 'refined_rotation_gain',
           'refined_rotation_error_deg', 'refined_ate')


def _label(column: str) -> str:
    """Return a column's name in 13 characters (``r.`` = after photometric refinement)."""
    return column.replace('refined_', 'r.').replace('rotation_', 'rot_')[:13]


def main(argv=None) -> None:
    """Render, score every weights file on every sequence, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', nargs='+', required=True)
    parser.add_argument('--names', nargs='*', help='short names (default: file stems)')
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--out', type=Path, default=Path('outputs/heldout'))
    parser.add_argument('--set', choices=('test', 'validation'), default='test',
                        help='validation: other streets and indoor spaces, for choosing runs')
    parser.add_argument('--translation-prior', type=float,
                        default=RefineConfig().translation_prior,
                        help="refinement's translation prior (default: the node's)")
    args = parser.parse_args(argv)
    refine = RefineConfig(translation_prior=args.translation_prior)
    names = args.names or [Path(w).stem for w in args.weights]
    size = tuple(load_networks(args.weights[0])[2]['input_size'])
    seqs = (sequences if args.set == 'test' else validation_sequences)(size, args.frames)
    results: Dict[str, Dict[str, Dict]] = {}
    for seq_name, seq in seqs.items():
        results[seq_name] = {n: score(w, seq, refine) for n, w in zip(names, args.weights)}
    # What one fixed map explains of the true depth itself (capped where the metrics cap
    # it, so the sky counts): a street seen from a car is partly the same layout in every
    # frame, so a depth that follows the scene need not score near 0.
    truth_share = {name: fixed_map_share([np.minimum(d, 80.0) for d in seq.depths])
                   for name, seq in seqs.items()}
    print(f'{"sequence":<30}{"weights":<18}' + ''.join(f'{_label(c):>14}' for c in COLUMNS))
    for seq_name, per in results.items():
        for n in names:
            print(f'{seq_name[:29]:<30}{n[:17]:<18}'
                  + ''.join(f'{per[n][c]:>14.3f}' for c in COLUMNS))
        print(f'{seq_name[:29]:<30}{"ground truth":<18}'
              + ''.join(f'{truth_share[seq_name]:>14.3f}' if c == 'fixed_map_share'
                        else f'{"":>14}' for c in COLUMNS))
    kept = [s for s in results if s not in LEFT_OUT_OF_MEANS]
    groups = {'streets': [s for s in kept if 'street' in s],
              'indoor': [s for s in kept if 'street' not in s]}
    left_out = [s for s in results if s in LEFT_OUT_OF_MEANS]
    for group, members in groups.items():
        if members:
            print(f'mean abs_rel over the {len(members)} {group} sequences: '
                  + ', '.join(f'{n} {np.mean([results[s][n]["abs_rel"] for s in members]):.3f}'
                              for n in names))
    if left_out:
        print(f'left out of the means (broken for every weights file): {", ".join(left_out)}')
    rows: List = []
    for seq_name, seq in seqs.items():
        truth = seq.depths[len(seq) // 2]
        rows.append((seq.images[len(seq) // 2], truth,
                     [median_scaled(results[seq_name][n]['depths'][len(seq) // 2], truth,
                                    max_depth=80.0) for n in names]))
    save_depth_grid(args.out / 'depth.png', [r[0] for r in rows],
                    {'ground truth': [r[1] for r in rows],
                     **{n: [r[2][i] for r in rows] for i, n in enumerate(names)}},
                    title="middle frame of each sequence, in the table's order; predictions "
                    'median-scaled to the truth')
    (args.out / 'results.json').write_text(json.dumps(
        {s: {**{n: {c: v[c] for c in COLUMNS} for n, v in per.items()},
             'ground truth': {'fixed_map_share': truth_share[s]}}
         for s, per in results.items()}, indent=2))


if __name__ == '__main__':
    main()
