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

"""Where a training step's time goes, and how close it comes to the CPU's convolution rate.

Run ``python -m benchmarks.bench_train`` with nothing else running (``--help``). For a
configuration (default: the shipped ``compact_v3`` at 48x160, batch 4) it times, averaged
over ``--repeat`` steps on random snippets: the networks' forward pass, each loss term's
forward (photometric, smoothness, the 3D term with its ICP), backward, and the optimiser
step; counts the step's floating-point operations with torch's ``FlopCounterMode``; and
measures, in the same run, the rate this CPU sustains on one large convolution. It prints
the split, the achieved GFLOP/s with and without the 3D loss, their ratio to the
convolution rate, and what the 3D loss adds to a step, with the paper's fixed 10 ICP
iterations and with ICP stopping once an iteration moves no cloud by more than 1e-4
(``loss.icp_tolerance``). A last row runs the step with three refinement steps of every
motion in the loss (``loss.refine_iterations``, the seventh recipe); its ``refine`` column
is the refinement's own time, part of ``loss``. ``--compile`` adds both steps with the
networks through ``torch.compile``, with the compile time. Trailing ``section.key=value``
arguments override the configuration, as for training (``optim.batch_size=16``,
``model.depth_width=1.0``); ``--rows plain,3d`` measures only those rows (the paper's
128x416 configuration, ``--config train``, takes minutes a row).
"""

import argparse
from dataclasses import replace
import time
from typing import Callable, Dict, Optional

from mono_depth_ros.core.losses import snippet_loss, vid2depth_loss
from mono_depth_ros.core.networks import build_networks, disparity_to_depth
from mono_depth_ros.core.refine import refine_snippets, RefineConfig
from mono_depth_ros_training.config import load_config
import torch
from torch.utils.flop_counter import FlopCounterMode


def _timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def conv_rate(repeat: int, rounds: int = 5) -> float:
    """GFLOP/s of a 64 -> 64 channel 3x3 convolution on a 128x416 map (forward).

    The fastest of ``rounds`` rounds of ``repeat`` calls: one round's rate varied from 77 to
    128 GFLOP/s between runs on this VM, the best of five is the rate the CPU can sustain.
    """
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.rand(1, 64, 128, 416)
    flops = 2 * 64 * 64 * 9 * 128 * 416
    with torch.no_grad():
        seconds = min(_timed(lambda: conv(x), repeat) for _ in range(rounds))
    return flops / seconds / 1e9


def _setup(config, compiled: bool):
    """Fresh networks (compiled or not), Adam, and a random batch of snippets with its K."""
    m, b = config.model, config.optim.batch_size
    depth_net, ego_net = build_networks(m)
    optimiser = torch.optim.Adam(list(depth_net.parameters()) + list(ego_net.parameters()),
                                 lr=1e-4)
    if compiled:
        depth_net, ego_net = torch.compile(depth_net), torch.compile(ego_net)
    images = torch.rand(b, m.seq_length, 3, m.height, m.width)
    k = torch.tensor([[0.6 * m.width, 0, m.width / 2], [0, 0.6 * m.width, m.height / 2],
                      [0, 0, 1]]).expand(b, 3, 3)
    return depth_net, ego_net, optimiser, images, k


def _compile_time(optimiser, loss: Callable[[], torch.Tensor],
                  forward: Callable[[], object]) -> float:
    """Seconds of the first training step and no-grad forward (which compile)."""
    t0 = time.perf_counter()
    optimiser.zero_grad(set_to_none=True)
    loss().backward()
    with torch.no_grad():
        forward()
    return time.perf_counter() - t0


def _gflop(fn: Callable[[], object]) -> float:
    """GFLOP of one call of ``fn`` (torch's FlopCounterMode)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def _loss_configs(loss, with_icp: bool, icp_tolerance: Optional[float]):
    """Return the step's loss configuration, and it with only the photometric terms / no ICP."""
    loss = loss if with_icp else replace(loss, icp_weight=0.0)
    if with_icp:
        loss = replace(loss, icp_weight=loss.icp_weight or 0.1, icp_tolerance=icp_tolerance)
    return (loss, replace(loss, smoothness_weight=0.0, icp_weight=0.0),
            replace(loss, icp_weight=0.0))


def step_split(config, with_icp: bool, repeat: int,
               icp_tolerance: Optional[float] = None,
               compiled: bool = False) -> Dict[str, float]:
    """Seconds per part of a step, and the step's GFLOP.

    The loss terms are timed by switching them on one after another (photometric, then
    smoothness, then the 3D term); each part is the difference to the previous forward.
    ``compiled`` runs both networks through ``torch.compile``; ``compile`` is then the
    seconds of the first step, which compiles.
    """
    loss_config, photometric_only, no_icp = _loss_configs(config.loss, with_icp,
                                                          icp_tolerance)
    m, b = config.model, config.optim.batch_size
    depth_net, ego_net, optimiser, images, k = _setup(config, compiled)

    def forward():
        disps = [d.reshape(b, m.seq_length, *d.shape[1:])
                 for d in depth_net(images.flatten(0, 1))]
        return disps, ego_net(images)

    with torch.no_grad():
        disps, ego = forward()

    def loss():
        return snippet_loss(depth_net, ego_net, images, k, loss_config)['total']

    def refine():
        refine_snippets(images, disparity_to_depth(disps[0]), ego, k, RefineConfig(
            iterations=loss_config.refine_iterations, translation_prior=0.0))

    def terms(cfg):
        return lambda: vid2depth_loss(images, k, disps, ego, cfg)['total']

    def backward():
        optimiser.zero_grad(set_to_none=True)
        loss().backward()

    def full():
        backward()
        optimiser.step()

    # Compiled: build the training graphs (and the no-grad ones) before timing.
    t_compile = _compile_time(optimiser, loss, forward) if compiled else 0.0
    t_forward = _timed(forward, repeat)
    t_photometric = _timed(terms(photometric_only), repeat)
    t_no_icp = _timed(terms(no_icp), repeat)
    t_all = _timed(terms(loss_config), repeat) if loss_config.icp_weight > 0 else t_no_icp
    t_loss = _timed(loss, repeat) - t_forward
    t_backward = _timed(backward, repeat) - t_forward - t_loss
    t_step = _timed(full, repeat)
    t_refine = _timed(refine, repeat) if loss_config.refine_iterations else 0.0
    # The counter does not see inside compiled graphs; main copies eager's FLOPs.
    gflop = 0.0 if compiled else _gflop(full)
    return {'networks': t_forward, 'photometric': t_photometric,
            'smoothness': max(0.0, t_no_icp - t_photometric),
            'icp': max(0.0, t_all - t_no_icp), 'refine': t_refine, 'loss': t_loss,
            'backward': t_backward,
            'optimiser': max(0.0, t_step - t_forward - t_loss - t_backward), 'step': t_step,
            'gflop': gflop, 'compile': t_compile}


def _exact(config):
    """``config`` with the paper's exact (KD-tree) ICP association instead of its own."""
    return replace(config, loss=replace(config.loss, icp_association='nearest'))


def _refined(config, steps: int):
    """``config`` with ``steps`` refinement steps in the loss."""
    return replace(config, loss=replace(config.loss, refine_iterations=steps))


ROWS = ('plain', '3d', 'tol', 'exact', 'refine')
"""Row names for ``--rows``: without the 3D loss, with it, with ICP's tolerance, with the
paper's exact association, with refinement in the loss."""


def _rows(text: str) -> tuple:
    rows = tuple(r for r in text.split(',') if r)
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise argparse.ArgumentTypeError(f'unknown rows {unknown}; choose from {ROWS}')
    return rows


def main(argv=None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='compact_v3')
    parser.add_argument('--repeat', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--compile', action='store_true',
                        help='add rows with both networks through torch.compile (minutes)')
    parser.add_argument('--rows', type=_rows, default=ROWS,
                        help=f'comma-separated rows to measure, of {",".join(ROWS)} (default '
                        'all; the plain row always runs, and --compile adds refine)')
    parser.add_argument('overrides', nargs='*',
                        help='section.key=value, as for training (e.g. optim.batch_size=16)')
    args = parser.parse_args(argv)
    args.rows = {'plain', *args.rows, *(('refine',) if args.compile else ())}
    if args.threads:
        torch.set_num_threads(args.threads)
    given = load_config(args.config, args.overrides)
    config = _refined(given, 0)
    rate = conv_rate(args.repeat)
    jobs = {'plain': ('without 3D loss', lambda: step_split(config, False, args.repeat)),
            '3d': ('with 3D loss', lambda: step_split(config, True, args.repeat)),
            'tol': ('with 3D, tol 1e-4', lambda: step_split(config, True, args.repeat, 1e-4)),
            'exact': ('with 3D, exact',
                      lambda: step_split(_exact(config), True, args.repeat)),
            'refine': ('with refinement', lambda: step_split(
                _refined(config, given.loss.refine_iterations or 3), False, args.repeat))}
    rows = {jobs[r][0]: jobs[r][1]() for r in ROWS if r in args.rows}
    if args.compile:
        rows['compiled'] = step_split(config, False, args.repeat, compiled=True)
        rows['compiled, refinement'] = step_split(
            _refined(config, given.loss.refine_iterations or 3), False, args.repeat,
            compiled=True)
        rows['compiled']['gflop'] = rows['without 3D loss']['gflop']
        rows['compiled, refinement']['gflop'] = rows['with refinement']['gflop']
    m = config.model
    print(f'{args.config}{"".join(" " + o for o in args.overrides)}: {m.height}x{m.width}, '
          f'widths {m.depth_width} / {m.egomotion_width}, batch {config.optim.batch_size}, '
          f'{torch.get_num_threads()} threads; CPU convolution rate {rate:.1f} GFLOP/s')
    parts = ('networks', 'photometric', 'smoothness', 'icp', 'refine', 'backward', 'optimiser',
             'step')
    print('seconds per step (networks = both forward passes; photometric, smoothness and icp '
          "are the loss terms' forward; backward covers all)")
    print(f'{"":<18}' + ''.join(f'{p:>12}' for p in parts)
          + f'{"GFLOP":>8}{"GFLOP/s":>9}{"of conv":>9}')
    for name, r in rows.items():
        achieved = r['gflop'] / r['step']
        print(f'{name:<18}' + ''.join(f'{r[p]:>12.3f}' for p in parts)
              + f'{r["gflop"]:>8.2f}{achieved:>9.1f}{achieved / rate:>9.1%}')
    for name in ('with 3D loss', 'with 3D, tol 1e-4', 'with 3D, exact', 'with refinement'):
        if name not in rows:
            continue
        extra = rows[name]['step'] / rows['without 3D loss']['step'] - 1
        what = 'refinement' if name == 'with refinement' else 'the 3D loss'
        print(f'{name}: {what} adds {extra:.0%} to a step')
    for name, eager in (('compiled', 'without 3D loss'),
                        ('compiled, refinement', 'with refinement')):
        if name in rows:
            print(f'{name}: step {rows[eager]["step"] / rows[name]["step"]:.2f}x as fast as '
                  f'eager ({eager}); compiling took {rows[name]["compile"]:.0f} s')


if __name__ == '__main__':
    main()
