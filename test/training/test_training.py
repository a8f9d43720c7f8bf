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


"""Training: configuration, augmentation geometry, checkpoints, resume, export, DDP."""

import argparse
import json
import os
from pathlib import Path
import re

from conftest import make_intrinsics, room_with_boxes
from mono_depth_ros.core.camera import scale_intrinsics
from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.geometry import mat_to_pose_vec
from mono_depth_ros.core.losses import vid2depth_loss
from mono_depth_ros.core.weights import load_networks, read_weights
from mono_depth_ros.data.kitti import KittiDrive
from mono_depth_ros.sim.motion import car_trajectory
from mono_depth_ros.sim.scene import look_transform, render
from mono_depth_ros_training.augment import augment_batch, draw_parameters
from mono_depth_ros_training.config import AugmentConfig, CONFIG_DIR, load_config
from mono_depth_ros_training.evaluate import evaluate
from mono_depth_ros_training.prepare import prepare_kitti, snippet_gap
from mono_depth_ros_training.train import CHECKPOINT, learning_rate, train, WEIGHTS
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp


CONFIG = 'train'  # the shipped paper configuration


def tiny_config(data_root, out, steps, **more):
    """Return a seconds-long configuration on the tiny dataset."""
    overrides = [f'data.root={data_root}', 'model.height=32', 'model.width=104',
                 'model.depth_width=0.125', 'model.egomotion_width=0.125',
                 'loss.icp_association=projective', 'loss.icp_window=1', 'loss.num_scales=2',
                 f'optim.steps={steps}', f'output.folder={out}', 'output.tensorboard=false',
                 'data.workers=0', 'output.checkpoint_every=1000']
    return load_config(CONFIG, overrides + [f'{k}={v}' for k, v in more.items()])


@pytest.mark.parametrize('path', sorted(CONFIG_DIR.glob('*.yaml')), ids=lambda p: p.stem)
def test_shipped_recipes_load_and_say_how_to_run_them(path):
    """Every shipped recipe parses (no stale key) and its comment gives its own command."""
    cfg = load_config(path)
    assert cfg.optim.steps > 0 and cfg.data.root
    assert re.search(rf'--config {path.stem}(\s|$)', path.read_text(), re.MULTILINE)


def test_config_overrides_coercion_and_errors():
    """YAML plus overrides build typed sections; unknown keys and bad values are named."""
    cfg = load_config(CONFIG, ['optim.lr=1e-3', 'loss.icp_weight=0', 'augment.scale=[1, 1.2]'])
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float)
    assert cfg.loss.icp_weight == 0.0 and cfg.augment.scale == (1.0, 1.2)
    assert cfg.model.height == 128 and cfg.loss.ssim_weight == 0.15
    with pytest.raises(ValueError, match="unknown key.*'lr_decay'"):
        load_config(CONFIG, ['optim.lr_decay=0.5'])
    with pytest.raises(ValueError, match="unknown section 'optimizer'"):
        load_config(CONFIG, ['optimizer.lr=0.5'])
    with pytest.raises(ValueError, match='optim.steps: expected int'):
        load_config(CONFIG, ['optim.steps=ten'])
    with pytest.raises(ValueError, match='augment.scale'):
        load_config(CONFIG, ['augment.scale=[0.9, 1.1]'])
    with pytest.raises(ValueError, match='eps > 0'):
        load_config(CONFIG, ['optim.eps=0'])


def test_cosine_schedule_closed_form_and_errors():
    """The cosine schedule: lr at step 0, the midpoint average, lr * ratio at the end."""
    optim = load_config(CONFIG, ['optim.schedule=cosine', 'optim.lr=1e-3',
                                 'optim.lr_min_ratio=0.1', 'optim.steps=100']).optim
    assert learning_rate(optim, 0) == pytest.approx(1e-3)
    assert learning_rate(optim, 50) == pytest.approx(0.5 * (1e-3 + 1e-4))
    assert learning_rate(optim, 100) == pytest.approx(1e-4)
    assert learning_rate(optim, 25) == pytest.approx(1e-4 + 0.45e-3 * (1 + 2 ** -0.5))
    assert learning_rate(load_config(CONFIG).optim, 12345) == load_config(CONFIG).optim.lr
    with pytest.raises(ValueError, match='optim.schedule'):
        load_config(CONFIG, ['optim.schedule=linear'])
    with pytest.raises(ValueError, match='lr_min_ratio'):
        load_config(CONFIG, ['optim.lr_min_ratio=0'])


def test_zoom_crop_augmentation_matches_rendering_with_new_intrinsics():
    """Zoom-and-crop of a rendered frame equals rendering the scene with the new intrinsics.

    A wrong principal-point update (ignoring the crop offset) is several times worse.
    """
    h, w = 48, 156
    k = make_intrinsics(h, w)
    pose = look_transform([0.0, 0.0, 0.0])
    image, _ = render(room_with_boxes(), pose, k, h, w, supersample=3)
    params = {'gamma': torch.ones(1), 'brightness': torch.ones(1),
              'colour': torch.ones(1, 3), 'zoom': torch.tensor([1.15]),
              'offset': torch.tensor([[0.7, 0.3]])}
    out, new_k = augment_batch(image[None, None].float(), k[None].float(), params)
    expected, _ = render(room_with_boxes(), pose, new_k[0].double(), h, w, supersample=3)
    err = (out[0, 0].double() - expected).abs()[:, 2:-2, 2:-2].mean()
    wrong_k = scale_intrinsics(k[None], 1.15, 1.15)[0]
    wrong, _ = render(room_with_boxes(), pose, wrong_k, h, w, supersample=3)
    wrong_err = (out[0, 0].double() - wrong).abs()[:, 2:-2, 2:-2].mean()
    assert err < 0.02 and wrong_err > 3 * err


def test_photometric_augmentation_values():
    """Gamma, brightness and colour act as closed forms on constant images (then clip)."""
    images = torch.full((1, 2, 3, 8, 8), 0.25)
    params = {'gamma': torch.tensor([2.0]), 'brightness': torch.tensor([1.5]),
              'colour': torch.tensor([[1.0, 2.0, 20.0]]), 'zoom': torch.ones(1),
              'offset': torch.zeros(1, 2)}
    out, k = augment_batch(images, torch.eye(3)[None], params)
    torch.testing.assert_close(out[0, 1, :, 0, 0], torch.tensor([0.09375, 0.1875, 1.0]))
    assert torch.equal(k[0], torch.eye(3))


def _true_pyramid(depth, scales=4):
    b, s, _, h, w = depth.shape
    disp = 1.0 / depth.reshape(b * s, 1, h, w)
    return [torch.nn.functional.adaptive_avg_pool2d(disp, (h >> i, w >> i))
            .reshape(b, s, 1, h >> i, w >> i) for i in range(scales)]


def test_flip_augmentation_is_a_mirrored_world_the_loss_agrees_with():
    """A flipped snippet with flipped depth and mirrored motion scores the original's loss.

    The true depth and motion of a rendered turn-and-slide: mirrored (tx, ry, rz negated)
    they fit the flipped frames exactly as well; unmirrored they fit several times worse.
    """
    h, w = 48, 160
    k = make_intrinsics(h, w)
    poses = [look_transform([0.1 * i, 0.0, 0.3 * i], yaw=0.04 * i) for i in range(3)]
    views = [render(room_with_boxes(), p, k, h, w, supersample=2) for p in poses]
    images = torch.stack([v[0] for v in views])[None].float()
    depth = torch.stack([v[1] for v in views]).reshape(1, 3, 1, h, w).float()
    motion = torch.stack([mat_to_pose_vec(torch.linalg.inv(poses[i + 1]) @ poses[i])
                          for i in range(2)])[None].float()
    params = {'gamma': torch.ones(1), 'brightness': torch.ones(1),
              'colour': torch.ones(1, 3), 'zoom': torch.ones(1),
              'offset': torch.zeros(1, 2), 'flip': torch.tensor([True])}
    flipped, flipped_k = augment_batch(images, k[None].float(), params)
    assert torch.equal(flipped, images.flip(-1))
    config = LossConfig(smoothness_weight=0.0, icp_weight=0.0)
    original = vid2depth_loss(images, k[None].float(), _true_pyramid(depth), motion, config)
    mirror = torch.tensor([-1.0, 1, 1, 1, -1, -1])
    mirrored = vid2depth_loss(flipped, flipped_k, _true_pyramid(depth.flip(-1)),
                              motion * mirror, config)
    unmirrored = vid2depth_loss(flipped, flipped_k, _true_pyramid(depth.flip(-1)), motion,
                                config)
    torch.testing.assert_close(mirrored['total'], original['total'], rtol=1e-4, atol=1e-6)
    assert unmirrored['total'] > 3 * original['total']


def test_flip_probability_and_unchanged_streams():
    """``augment.flip`` flips about that share of snippets; at 0 the draws are as before."""
    draws = draw_parameters(AugmentConfig(flip=0.3), 4000, torch.Generator().manual_seed(1))
    assert abs(draws['flip'].float().mean().item() - 0.3) < 0.03
    before = draw_parameters(AugmentConfig(), 8, torch.Generator().manual_seed(2))
    with_flip = draw_parameters(AugmentConfig(flip=0.5), 8, torch.Generator().manual_seed(2))
    assert 'flip' not in before
    for name, value in before.items():
        assert torch.equal(value, with_flip[name]), name
    with pytest.raises(ValueError, match='augment.flip'):
        load_config(CONFIG, ['augment.flip=1.5'])


def _state(path):
    tensors, meta = read_weights(path)
    return tensors, meta


@pytest.mark.slow
def test_resume_continues_exactly_and_export(tiny_dataset, tmp_path):
    """2 + 2 steps with a resume equal 4 uninterrupted steps; export drops Adam's state."""
    root = tiny_dataset / 'prepared'
    full = train(tiny_config(root, tmp_path / 'a', 4), progress=False)
    assert full['steps'] == 4 and full['weights']
    part = train(tiny_config(root, tmp_path / 'b', 4), progress=False, stop_after=2)
    assert part['steps'] == 2 and part['weights'] is None
    assert not (tmp_path / 'b' / WEIGHTS).exists()
    train(tiny_config(root, tmp_path / 'b', 4), resume='auto', progress=False)
    a, meta_a = _state(tmp_path / 'a' / CHECKPOINT)
    b, meta_b = _state(tmp_path / 'b' / CHECKPOINT)
    assert meta_a['extra']['step'] == meta_b['extra']['step'] == 4
    assert a.keys() == b.keys() and any(k.startswith('optim.') for k in a)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    exported, meta = _state(tmp_path / 'a' / WEIGHTS)
    assert not any(k.startswith('optim.') for k in exported)
    assert meta['training']['optim']['steps'] == 4
    depth_net, _, _ = load_networks(tmp_path / 'a' / WEIGHTS)
    assert depth_net.training is False


def test_several_data_roots_train_together(tiny_dataset, tmp_path):
    """data.root joined by os.pathsep: every folder's snippets; validation where there is one."""
    from mono_depth_ros_training.train import snippets

    root = tiny_dataset / 'prepared'
    copy = tmp_path / 'copy'
    copy.mkdir()
    for item in root.iterdir():
        if item.name != 'val.txt':
            (copy / item.name).symlink_to(item)
    joined = f'{root}{os.pathsep}{copy}'
    config = tiny_config(joined, tmp_path / 'out', 2)
    single = snippets(tiny_config(root, tmp_path / 'out', 2), 'train')
    assert len(snippets(config, 'train')) == 2 * len(single)
    assert len(snippets(config, 'val', missing_ok=True)) == len(
        snippets(tiny_config(root, tmp_path / 'out', 2), 'val'))
    assert snippets(tiny_config(copy, tmp_path / 'out', 2), 'val', missing_ok=True) is None
    with pytest.raises(Exception, match='val'):
        snippets(tiny_config(copy, tmp_path / 'out', 2), 'val')
    assert train(config, progress=False)['steps'] == 2


def test_checkpoint_write_is_atomic(tiny_dataset, tmp_path, monkeypatch):
    """A crash while the checkpoint is replaced leaves the previous one whole."""
    root = tiny_dataset / 'prepared'
    train(tiny_config(root, tmp_path, 2), progress=False, stop_after=1)
    before = (tmp_path / CHECKPOINT).read_bytes()

    def crash(*args, **kwargs):
        raise OSError('disk gone')

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(OSError, match='disk gone'):
        train(tiny_config(root, tmp_path, 2), resume='auto', progress=False)
    assert (tmp_path / CHECKPOINT).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith('.tmp')] == []


def _ddp_worker(rank, world_size, port, data_root, out, more):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    train(tiny_config(data_root, out, 3, **more), progress=False)
    torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize('icp_weight', [0.1, 0.0])
def test_two_gloo_processes_match_one_process(tiny_dataset, tmp_path, icp_weight, one_thread,
                                              free_port):
    """torch.distributed (gloo, 2 CPU processes, batch 2 each) equals 1 process, batch 4.

    Batch norm uses the global batch (GlobalBatchNorm2d); without it, or with a sampler
    that split the batch differently, the runs would differ from the first step.
    """
    root = tiny_dataset / 'prepared'
    # Adam with its default eps divides each gradient by its own magnitude, so float-rounding
    # noise in a near-zero gradient becomes a full +-lr step. A large eps makes the update
    # lr * gradient / eps (linear), so the weights differ only as much as the gradients do.
    more = {'loss.icp_weight': icp_weight, 'optim.eps': 1.0}
    train(tiny_config(root, tmp_path / 'one', 3, **more), progress=False)
    mp.spawn(_ddp_worker, args=(2, free_port, str(root), str(tmp_path / 'two'), more), nprocs=2)
    # The global batch's loss agrees at every step. The photometric term matches to float
    # rounding; ICP's discrete correspondences turn rounding-level depth differences into
    # a slightly different 3D term, so the total agrees to 1%.
    runs = [json.loads((tmp_path / run / 'history.json').read_text()) for run in ('one', 'two')]
    for name, rtol in (('reconstruction', 1e-4), ('total', 1e-2)):
        torch.testing.assert_close(torch.tensor([h[name] for h in runs[0]]),
                                   torch.tensor([h[name] for h in runs[1]]), rtol=rtol,
                                   atol=0, msg=name)
    one, _ = _state(tmp_path / 'one' / WEIGHTS)
    two, _ = _state(tmp_path / 'two' / WEIGHTS)
    init = train(tiny_config(root, tmp_path / 'zero', 0), progress=False)
    zero, _ = _state(Path(init['checkpoint']))
    assert one.keys() == two.keys()
    # How far the two runs' weights differ, against how far training moved them. Measured:
    # 8e-4 without and 3e-3 with the 3D term; the same split with unsynchronised batch norm
    # gives 1.08.
    names = [k for k in one if one[k].is_floating_point() and 'running' not in k]
    differ = sum(float((one[k] - two[k]).abs().sum()) for k in names)
    moved = sum(float((one[k] - zero[k]).abs().sum()) for k in names)
    assert moved > 0
    assert differ / moved < 1e-2, differ / moved


@pytest.mark.slow
def test_evaluate_writes_tables_and_pictures(tiny_dataset, tmp_path):
    """The evaluation command reads the KITTI-layout test split and odometry sequences."""
    train(tiny_config(tiny_dataset / 'prepared', tmp_path / 'run', 1), progress=False)
    result = evaluate(tmp_path / 'run' / WEIGHTS, tiny_dataset, tmp_path / 'eval')
    depth = result['depth']['median_scaled']
    assert depth['images'] == 4 and 0 < depth['abs_rel'] < 2 and 0 <= depth['a1'] <= 1
    assert result['pose']['00']['snippets'] == 4
    saved = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
    assert saved['depth']['metric']['images'] == 4
    # Per drive: per-image means, so the drives' image-weighted mean is the overall figure.
    drives = saved['depth']['per_drive'].values()
    assert sum(d['images'] for d in drives) == 4
    assert sum(d['abs_rel'] * d['images'] for d in drives) / 4 == pytest.approx(
        depth['abs_rel'], rel=1e-9)
    for rows in saved['depth']['bands'].values():  # every evaluated pixel in one band
        assert sum(b['pixels'] for b in rows) == pytest.approx(1.0)
        assert sum(b['error_share'] for b in rows) == pytest.approx(1.0)
    assert (tmp_path / 'eval' / 'depth.png').stat().st_size > 1000
    assert (tmp_path / 'eval' / 'trajectory_00.png').stat().st_size > 1000


@pytest.mark.slow
def test_evaluate_at_another_input_size(tiny_dataset, weights, tmp_path):
    """``--size`` runs the networks at that size (their 32x104 own, then twice it)."""
    from mono_depth_ros_training.config import parse_size
    from mono_depth_ros_training.evaluate import main

    own = evaluate(weights, tiny_dataset, tmp_path / 'own')
    main(['--weights', str(weights), '--data', str(tiny_dataset), '--out',
          str(tmp_path / 'big'), '--size', '64x208'])
    big = json.loads((tmp_path / 'big' / 'metrics.json').read_text())
    assert own['input_size'] == [32, 104] and big['input_size'] == [64, 208]
    assert big['depth']['median_scaled']['images'] == own['depth']['median_scaled']['images']
    # Another input size gives other depths, so other errors.
    assert big['depth']['median_scaled']['abs_rel'] != pytest.approx(
        own['depth']['median_scaled']['abs_rel'], rel=1e-6)
    with pytest.raises(argparse.ArgumentTypeError, match='HxW'):
        parse_size('96x')
    with pytest.raises(ValueError, match='at least 8'):
        evaluate(weights, tiny_dataset, tmp_path / 'bad', size=(4, 104))


def test_render_a_test_set_only(tmp_path):
    """``--train-sequences 0`` renders a test set with empty training splits."""
    from mono_depth_ros_training.prepare import main

    main(['render', '--out', str(tmp_path), '--size', '32x104', '--train-sequences', '0',
          '--test-sequences', '1', '--test-frames', '6', '--supersample', '1'])
    info = json.loads((tmp_path / 'dataset.json').read_text())
    assert info['train'] == 0 and info['val'] == 0 and info['drives'] == []
    assert (tmp_path / 'prepared' / 'train.txt').read_text() == ''
    assert len((tmp_path / 'test_files_eigen.txt').read_text().split()) == 3


def test_render_jobs_follow_the_scene_set():
    """``--scenes indoor`` training jobs render the indoor spaces; test jobs stay streets."""
    from mono_depth_ros_training.prepare import _render_one, SCENE_SETS

    assert 'indoor' in SCENE_SETS
    names = [_render_one((i, is_test, 'indoor', 3, 7, (16, 48), 1)).name
             for i, is_test in ((0, False), (1, False), (0, True))]
    assert names == ['warehouse_walk_7', 'warehouse_robot_7', 'car_7']


def test_prepared_split_excludes_test_drives(tiny_dataset):
    """Training snippets never come from a drive of the test list (Eigen protocol)."""
    info = json.loads((tiny_dataset / 'dataset.json').read_text())
    assert info['excluded_test_drives'] == ['2011_09_26_drive_0003_sync']
    lines = ((tiny_dataset / 'prepared' / 'train.txt').read_text()
             + (tiny_dataset / 'prepared' / 'val.txt').read_text()).split()
    assert lines and not any('drive_0003' in item for item in lines)
    assert (tiny_dataset / 'bags' / 'test_mcap').is_dir()


def test_min_baseline_spaces_slow_drives(tiny_dataset, tmp_path):
    """A drive's snippet gap is the smallest that covers ``min_baseline`` at its speed."""
    raw = tiny_dataset / 'kitti_raw'
    drive = KittiDrive(raw / '2011_09_26' / '2011_09_26_drive_0001_sync')
    # The renderer's own path for this drive (seed 5 * 1000 + 0): metres per frame.
    poses = car_trajectory(16, seed=5000).numpy()
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    step = float(np.median(steps[steps * 10 >= 0.3]))
    assert drive.frame_interval() == pytest.approx(0.1, abs=1e-6)
    speeds, interval = drive.speeds(), drive.frame_interval()
    assert snippet_gap(speeds, interval, None) == 1
    assert snippet_gap(None, interval, 2.5 * step) == 1  # no oxts: consecutive frames
    assert snippet_gap(speeds, interval, 0.5 * step) == 1
    assert snippet_gap(speeds, interval, 2.5 * step) == 3
    assert snippet_gap(speeds, interval, 100 * step) == 4  # at most 4
    info = prepare_kitti(raw, tmp_path / 'prepared', (32, 104),
                         tiny_dataset / 'test_files_eigen.txt', min_baseline=1.5 * step)
    assert set(info['snippet_gaps'].values()) == {2}
    gap1 = prepare_kitti(raw, tmp_path / 'consecutive', (32, 104),
                         tiny_dataset / 'test_files_eigen.txt')
    assert 'snippet_gaps' not in gap1
    # Two more frames at each end of every drive leave no snippet.
    assert gap1['train'] + gap1['val'] - info['train'] - info['val'] == 2 * len(info['drives'])
