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

"""A non-editable ``pip install`` of the project trains, from the installed package alone.

A fresh virtual environment gets the project through ``pip install --no-deps .`` (a wheel
built from the source tree); its dependencies (torch and the rest) come from the test
environment's site-packages through a ``.pth`` line, which does not carry over the test
environment's editable install. Everything then runs from a folder outside the source
tree, so nothing is imported from the checkout.
"""

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
    env['OMP_NUM_THREADS'] = '1'
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f'{args}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out.stdout


@pytest.mark.slow
def test_pip_install_then_train_20_steps(tmp_path):
    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', str(venv)], tmp_path)
    python = venv / 'bin' / 'python'
    site = Path(_run([str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()'
                      "['purelib'])"], tmp_path).strip())
    (site / 'test_dependencies.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    # A copy of the source tree, so that the build leaves nothing in the checkout.
    source = tmp_path / 'source'
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'outputs', 'build', '*.egg-info', '__pycache__', '.pytest_cache'))
    _run([str(python), '-m', 'pip', 'install', '--quiet', '--no-deps', str(source)], tmp_path)
    work = tmp_path / 'work'
    work.mkdir()
    where = json.loads(_run([str(python), '-c', (
        'import json, mono_depth_ros, mono_depth_ros_training\n'
        'from mono_depth_ros.weights import default_weights\n'
        'from mono_depth_ros_training.config import config_path\n'
        'print(json.dumps([mono_depth_ros.__file__, mono_depth_ros_training.__file__, '
        "str(default_weights()), str(config_path('compact'))]))")], work))
    for path in where:
        assert str(ROOT) not in path and path.startswith(str(venv)), where
    _run([str(python), '-m', 'mono_depth_ros_training.prepare', 'render', '--out', 'data',
          '--size', '48x160', '--train-sequences', '2', '--frames', '14',
          '--test-sequences', '1', '--test-frames', '6', '--supersample', '1'], work)
    summary = _run([str(python), '-m', 'mono_depth_ros_training.train', '--config', 'compact',
                    '--threads', '1', '--device', 'cpu', 'data.root=data/prepared',
                    'data.workers=0', 'optim.steps=20', 'output.folder=run',
                    'output.checkpoint_every=10', 'output.tensorboard=false'], work)
    result = json.loads(summary[summary.index('{'):])
    assert result['steps'] == 20 and result['loss_last_mean'] < float('inf')
    weights = work / 'run' / 'weights.safetensors'
    assert weights.is_file()
    meta = json.loads(_run([str(python), '-c', (
        'import json, sys\n'
        'from mono_depth_ros.core.weights import load_networks\n'
        "print(json.dumps(load_networks(sys.argv[1])[2]['input_size']))"), str(weights)],
        work))
    assert meta == [48, 160]
