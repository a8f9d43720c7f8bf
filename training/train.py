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


"""Offline training: ``python -m mono_depth_ros_training.train --config train [k=v ...]``.

One process, or several through
``torchrun --nproc_per_node N -m mono_depth_ros_training.train ...`` (gloo on CPU, NCCL on
GPUs; the global batch ``optim.batch_size`` is split among them and batch norm uses global
statistics, so the result matches one process). Every step ``t``
draws its snippets and augmentations from a generator seeded by ``(seed, t)``: a resumed
run continues exactly as an uninterrupted one would.

Writes to ``output.folder``: ``checkpoint.safetensors`` (networks, Adam state, RNG-free step
counter; written atomically), ``weights.safetensors`` (the deployable networks, exported at
the end), ``tb/`` (TensorBoard scalars and images), ``history.json``.

May import: :mod:`mono_depth_ros` (core, data, evaluation, sim) and this package; never
``runtime`` or ``ros``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
import math
import os
from pathlib import Path
import time
from typing import Any, Dict, List, Optional, Tuple

from mono_depth_ros.core.camera import pixel_grid
from mono_depth_ros.core.geometry import inverse_warp, pose_vec_to_mat
from mono_depth_ros.core.losses import LOSS_TERMS, snippet_loss
from mono_depth_ros.core.networks import build_networks, disparity_to_depth
from mono_depth_ros.core.step import StepResult, train_step
from mono_depth_ros.data.snippets import SnippetDataset
from mono_depth_ros_training.augment import augment_batch, draw_parameters
from mono_depth_ros_training.checkpoints import (CHECKPOINT, config_from_weights, export,
                                                 load_checkpoint, load_init, save_checkpoint,
                                                 WEIGHTS)
from mono_depth_ros_training.config import keys_set, load_config, OptimConfig, TrainConfig
from mono_depth_ros_training.distributed import convert_batch_norm, is_main, setup, world
from mono_depth_ros_training.sampling import run_weights, step_generator, StepBatches
import torch
from torch.utils.data import ConcatDataset, DataLoader
from tqdm import tqdm

__all__ = ['CHECKPOINT', 'StepBatches', 'WEIGHTS', 'config_from_weights', 'export',
           'learning_rate', 'load_checkpoint', 'main', 'save_checkpoint', 'train']


def _log_images(writer, step: int, images: torch.Tensor, intrinsics: torch.Tensor,
                terms: Dict[str, Any]) -> None:
    """Log TensorBoard images: input, inverse depth, warped neighbour, validity mask."""
    from mono_depth_ros.evaluation.plots import colourise_depth

    with torch.no_grad():
        disp = terms['disparities'][0][0].detach().cpu()  # (S, 1, H, W)
        h, w = disp.shape[-2:]
        depth = disparity_to_depth(disp)
        src_T_tgt = pose_vec_to_mat(terms['egomotion'][:1, 0].detach().cpu())
        warped, mask = inverse_warp(images[:1, 1].cpu(), depth[:1],
                                    src_T_tgt, intrinsics[:1].cpu(),
                                    pixel_grid(h, w, disp.dtype))
    writer.add_image('input/frame0', images[0, 0].cpu(), step)
    writer.add_image('depth/inverse_depth0', colourise_depth(depth[0, 0].numpy()), step,
                     dataformats='HWC')
    writer.add_image('warp/frame1_into_frame0', warped[0].clamp(0, 1), step)
    writer.add_image('warp/validity_mask', mask[0], step)


def snippets(config: TrainConfig, split: str, missing_ok: bool = False):
    """Return the snippets of ``split`` in every folder of ``data.root`` (``os.pathsep``-joined).

    With ``missing_ok``, folders without that split are left out (None if all are);
    otherwise a missing split is the dataset's error.
    """
    roots = [Path(r) for r in config.data.root.split(os.pathsep) if r]
    if missing_ok:
        roots = [r for r in roots if (r / f'{split}.txt').is_file()]
        if not roots:
            return None
    sets = [SnippetDataset(r, split, config.model.seq_length,
                           (config.model.height, config.model.width)) for r in roots]
    return sets[0] if len(sets) == 1 else ConcatDataset(sets)


def _validation_loss(depth_net, ego_net, config: TrainConfig, device: str,
                     batches: int = 4) -> Optional[float]:
    data = snippets(config, config.data.val_split, missing_ok=True)
    if data is None:
        return None
    loader = DataLoader(data, batch_size=config.optim.batch_size, shuffle=False)
    depth_net.eval()
    ego_net.eval()
    values = []
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if i >= batches:
                break
            terms = snippet_loss(depth_net, ego_net, batch['images'].to(device),
                                 batch['intrinsics'].to(device), config.loss)
            values.append(terms['total'].item())
    depth_net.train(config.optim.train_depth)
    ego_net.train()
    return sum(values) / len(values) if values else None


@dataclass
class _Run:
    """The objects of one training run (built by :func:`_build`)."""

    config: TrainConfig
    device: str
    rank: int
    world_size: int
    depth_net: torch.nn.Module
    ego_net: torch.nn.Module
    models: Tuple[torch.nn.Module, torch.nn.Module]
    optimiser: torch.optim.Optimizer
    start: int
    history: List[Dict[str, float]]


def _build(config: TrainConfig, device: str, resume: Optional[str],
           init: Optional[str] = None) -> _Run:
    """Build the networks (DDP-wrapped with several processes), Adam, the resumed state."""
    rank, world_size = setup(device)
    if device.startswith('cuda') and world_size > 1:
        device = f'cuda:{rank % torch.cuda.device_count()}'
    torch.manual_seed(config.optim.seed)
    depth_net, ego_net = build_networks(config.model)
    if init:
        load_init(Path(init), depth_net, ego_net, config.model)
    if world_size > 1:
        # Before the optimiser is built: the swap must keep the parameters it will hold.
        depth_net = convert_batch_norm(depth_net, device)
        ego_net = convert_batch_norm(ego_net, device)
    depth_net.to(device).train(config.optim.train_depth).requires_grad_(config.optim.train_depth)
    ego_net.to(device).train()
    params = [p for p in depth_net.parameters() if p.requires_grad] + list(ego_net.parameters())
    optimiser = torch.optim.Adam(params, lr=config.optim.lr,
                                 betas=(config.optim.beta1, 0.999), eps=config.optim.eps)
    out = Path(config.output.folder)
    start, history = 0, []
    if resume == 'auto':
        resume = str(out / CHECKPOINT) if (out / CHECKPOINT).is_file() else None
    if resume:
        start, history = load_checkpoint(Path(resume), depth_net, ego_net, optimiser, config)
    models: Tuple[torch.nn.Module, torch.nn.Module] = (depth_net, ego_net)
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        models = (DDP(depth_net) if config.optim.train_depth else depth_net, DDP(ego_net))
    return _Run(config, device, rank, world_size, depth_net, ego_net, models, optimiser,
                start, history)


def _all_finite(finite: bool) -> bool:
    """Return whether the loss is finite on every process (all skip a step, or none)."""
    flag = torch.tensor(float(finite))
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
    return bool(flag.item() >= 1)


def _batch(run: _Run, step: int, batch: Dict[str, torch.Tensor]
           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return this process's images and intrinsics of ``step``, augmented as configured."""
    config = run.config
    images, k = batch['images'], batch['intrinsics']
    if config.augment.enabled:
        per = config.optim.batch_size // run.world_size
        params = draw_parameters(config.augment, config.optim.batch_size,
                                 step_generator(config.optim.seed + 7, step))
        mine = {n: v[run.rank * per:(run.rank + 1) * per] for n, v in params.items()}
        images, k = augment_batch(images, k, mine)
    return images.to(run.device), k.to(run.device)


def _global_figures(run: _Run, result: StepResult) -> Dict[str, float]:
    """Return the loss terms of the global batch (averaged over processes)."""
    values = torch.tensor([result.figures()[name] for name in LOSS_TERMS])
    if run.world_size > 1:
        torch.distributed.all_reduce(values)
        values /= run.world_size
    return dict(zip(LOSS_TERMS, values.tolist()))


def learning_rate(optim: OptimConfig, step: int) -> float:
    """Learning rate of ``step`` under ``optim.schedule`` (a function of the step only).

    ``constant``: ``optim.lr`` throughout (the paper). ``cosine``: from ``optim.lr`` down
    to ``optim.lr * optim.lr_min_ratio`` at ``optim.steps`` along half a cosine.
    """
    if optim.schedule == 'constant' or optim.steps <= 0:
        return optim.lr
    t = min(1.0, step / optim.steps)
    low = optim.lr * optim.lr_min_ratio
    return low + 0.5 * (optim.lr - low) * (1.0 + math.cos(math.pi * t))


def _loop(run: _Run, end: int, writer, progress: bool) -> None:
    """Train steps ``run.start .. end - 1`` (logging, checkpoints, validation)."""
    config = run.config
    data = snippets(config, config.data.train_split)
    weights = run_weights(Path(config.output.folder), *run.models, data, config.loss,
                          config.data.hard_sampling, run.device, progress and is_main(),
                          write=is_main())
    sampler = StepBatches(len(data), config.optim.batch_size, end, config.optim.seed,
                          run.start, run.rank, run.world_size, weights)
    loader = DataLoader(data, batch_sampler=sampler, num_workers=config.data.workers,
                        persistent_workers=False)
    bar = tqdm(loader, total=len(sampler), desc='training',
               disable=not (progress and is_main()))
    skipped = 0
    for step, batch in enumerate(bar, run.start):
        images, k = _batch(run, step, batch)
        for group in run.optimiser.param_groups:
            group['lr'] = learning_rate(config.optim, step)
        result = train_step(*run.models, run.optimiser, images, k, config.loss,
                            _all_finite if run.world_size > 1 else None)
        if not result.applied:
            skipped += 1
            if skipped > 10:
                raise FloatingPointError(f'step {step}: loss not finite in 10 steps in a '
                                         'row; stopping (last checkpoint is intact)')
            continue
        skipped = 0
        record = _global_figures(run, result)
        run.history.append({'step': step, **record})
        if is_main():
            bar.set_postfix(loss=f'{record["total"]:.4f}')
            _log(writer, step, record, images, k, result.terms, config)
        if (step + 1) % config.output.checkpoint_every == 0 and is_main():
            out = Path(config.output.folder)
            save_checkpoint(out / CHECKPOINT, run.depth_net, run.ego_net, run.optimiser,
                            config, step + 1, run.history)
            every = config.output.snapshot_every
            if every and (step + 1) % every == 0:
                export(out / CHECKPOINT, out / 'snapshots' / f'step_{step + 1:07d}.safetensors')
            val = _validation_loss(run.depth_net, run.ego_net, config, run.device)
            if val is not None and writer:
                writer.add_scalar('val/total', val, step)


def _log(writer, step: int, record: Dict[str, float], images: torch.Tensor,
         k: torch.Tensor, terms: Dict[str, Any], config: TrainConfig) -> None:
    if writer is None:
        return
    if step % config.output.log_every == 0:
        for name, value in record.items():
            writer.add_scalar(f'loss/{name}', value, step)
    if step % config.output.image_every == 0:
        _log_images(writer, step, images, k, terms)


def train(config: TrainConfig, device: str = 'cpu', resume: Optional[str] = None,
          progress: bool = True, stop_after: Optional[int] = None,
          init: Optional[str] = None) -> Dict[str, Any]:
    """Train per ``config``; return a summary (final step, losses, frames/s, paths).

    Args:
        config: the full configuration.
        device: ``'cpu'`` or ``'cuda'`` (with several processes: ``'cuda'`` picks
            ``cuda:<local rank>``).
        resume: a checkpoint to continue from (``'auto'``: the output folder's, if any).
        progress: show a progress bar (rank 0).
        stop_after: stop (with a checkpoint) after this many steps of this call; for
            tests of resuming.
        init: a weights file to start from (fine-tuning; a fresh optimiser); its
            architecture must equal ``config.model`` but for the ego-motion output scales
            (see :func:`config_from_weights` and ``checkpoints.load_init``).

    """
    run = _build(config, device, resume, init)
    out = Path(config.output.folder)
    end = config.optim.steps if stop_after is None else min(config.optim.steps,
                                                            run.start + stop_after)
    writer = None
    if is_main() and config.output.tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(out / 'tb'))
    t0 = time.perf_counter()
    _loop(run, end, writer, progress)
    seconds = time.perf_counter() - t0
    history = run.history
    steps_done = max(0, end - run.start)
    summary = {
        'steps': end,
        'steps_this_run': steps_done,
        'seconds': seconds,
        'frames_per_s': steps_done * config.optim.batch_size * config.model.seq_length
        / max(seconds, 1e-9),
        'loss_first': history[0]['total'] if history else None,
        'loss_last_mean': (sum(h['total'] for h in history[-10:]) / min(10, len(history))
                           if history else None),
        'checkpoint': str(out / CHECKPOINT),
        'weights': str(out / WEIGHTS) if end >= config.optim.steps else None,
    }
    if is_main():
        out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(out / CHECKPOINT, run.depth_net, run.ego_net, run.optimiser, config,
                        end, history)
        if end >= config.optim.steps:
            export(out / CHECKPOINT, out / WEIGHTS)
        (out / 'history.json').write_text(json.dumps(history))
        if writer:
            writer.close()
    if run.world_size > 1:
        torch.distributed.barrier()
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description='Train vid2depth (depth + ego-motion).')
    parser.add_argument('--config', default='train',
                        help="YAML file, or a shipped configuration: 'train' (the paper's) or "
                        "'compact'")
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--resume', default=None,
                        help="checkpoint to continue from, or 'auto' (the output folder's)")
    parser.add_argument('--threads', type=int, default=None, help='CPU threads per process')
    parser.add_argument('--init', default=None,
                        help='start from these weights (e.g. the shipped ones): architecture '
                        'and input size come from their metadata, the optimiser is new; '
                        'model.egomotion_scale / model.egomotion_translation_scale may '
                        'be changed (the head is rescaled to predict the same motion)')
    parser.add_argument('--export', nargs=2, metavar=('CHECKPOINT', 'OUTPUT'),
                        help='only export deployable weights from a checkpoint')
    parser.add_argument('overrides', nargs='*', help='section.key=value (YAML values)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Entry point."""
    args = parse_args(argv)
    if args.export:
        print(export(Path(args.export[0]), Path(args.export[1])))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_config(args.config, args.overrides)
    if args.init:
        config = config_from_weights(config, args.init,
                                     *keys_set(args.config, args.overrides))
    summary = train(config, args.device, args.resume, init=args.init)
    if is_main():
        print(json.dumps(summary, indent=2))
    if world()[1] > 1:
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main()
