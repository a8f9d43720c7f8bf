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

"""Learning curves on the held-out set: depth error and rotation gain against steps.

Run ``python -m benchmarks.learning_curve --run outputs/train_v2 --data outputs/data_v2``
after (or during) a training run with ``output.snapshot_every`` set. Every snapshot in
``RUN/snapshots`` (and the final ``weights.safetensors``) is scored with the evaluation
protocols of ``mono_depth_ros_training.evaluate`` on the rendered test set: median-scaled
abs rel and a1 (Eigen protocol with Garg crop) and, per test sequence, 5-frame ATE and the
rotation gain and error. Writes ``curves.json`` and ``learning_curve.png`` to ``--out``.
"""

import argparse
import json
from pathlib import Path
import re

from mono_depth_ros.evaluation.plots import save_curves
from mono_depth_ros_training.evaluate import evaluate
from tqdm import tqdm


def _snapshots(run: Path):
    found = sorted((int(re.search(r'(\d+)', p.stem).group(1)), p)
                   for p in (run / 'snapshots').glob('step_*.safetensors'))
    return found


def main(argv=None) -> None:
    """Score every snapshot, print the table, draw the curves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--run', type=Path, required=True, help='a training output folder')
    parser.add_argument('--data', type=Path, required=True, help='the rendered dataset')
    parser.add_argument('--out', type=Path, default=None, help='default: RUN/curves')
    args = parser.parse_args(argv)
    out = args.out or args.run / 'curves'
    rows = []
    for step, path in tqdm(_snapshots(args.run), desc='snapshots'):
        result = evaluate(path, args.data, out / f'step_{step:07d}')
        depth = result['depth']['median_scaled']
        rows.append({'step': step, 'abs_rel': depth['abs_rel'], 'a1': depth['a1'],
                     'pose': {name: {k: v for k, v in seq.items()
                                     if k in ('ate_mean', 'rotation_gain',
                                              'rotation_error_deg')}
                              for name, seq in result['pose'].items()}})
    out.mkdir(parents=True, exist_ok=True)
    (out / 'curves.json').write_text(json.dumps(rows, indent=2))
    names = sorted(rows[0]['pose']) if rows else []
    curves = {'abs_rel (median-scaled)': [r['abs_rel'] for r in rows]}
    curves.update({f'rotation gain, sequence {n}': [r['pose'][n]['rotation_gain'] for r in rows]
                   for n in names})
    steps = [r['step'] for r in rows]
    save_curves(out / 'learning_curve.png', curves, xlabel='training step', x=steps,
                title='held-out rendered test set')
    print(f'{"step":>8}{"abs_rel":>9}{"a1":>7}' + ''.join(f'  seq {n}: gain / err deg / ATE'
                                                          for n in names))
    for r in rows:
        print(f'{r["step"]:>8}{r["abs_rel"]:>9.3f}{r["a1"]:>7.3f}' + ''.join(
            f'  {r["pose"][n]["rotation_gain"]:>5.2f} / {r["pose"][n]["rotation_error_deg"]:.2f}'
            f' / {r["pose"][n]["ate_mean"]:.3f}' for n in names))


if __name__ == '__main__':
    main()
