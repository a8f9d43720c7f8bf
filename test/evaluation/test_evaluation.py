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


"""Evaluation protocols against closed forms and scipy."""

import math

from mono_depth_ros.evaluation.depth import (content_correlation, depth_metrics,
                                             distance_bands, evaluate_depths,
                                             fixed_map_share,
                                             garg_crop_mask, log_correlation, median_scaled)
from mono_depth_ros.evaluation.plots import save_depth_grid, save_trajectory_plot
from mono_depth_ros.evaluation.pose import (align_similarity, chain_motions,
                                            evaluate_trajectory, rotation_scores,
                                            snippet_ate)
import numpy as np
import pytest
from scipy.spatial.transform import Rotation


def _gt(seed=0, shape=(40, 120)):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(2.0, 60.0, shape)
    gt[rng.random(shape) < 0.3] = np.nan  # sparse, like projected LiDAR
    return gt


def test_depth_metrics_closed_forms():
    """A scaled prediction is perfect after median scaling; a 10% bias gives known values."""
    gt = _gt()
    perfect, scale = depth_metrics(gt, gt * 0.37)
    assert math.isclose(scale, 1 / 0.37, rel_tol=1e-9)
    assert perfect['abs_rel'] < 1e-12 and perfect['rmse'] < 1e-9 and perfect['a1'] == 1.0
    biased, _ = depth_metrics(gt, gt * 1.1, median_scaling=False)
    assert math.isclose(biased['abs_rel'], 0.1, rel_tol=1e-9)
    assert math.isclose(biased['rmse_log'], math.log(1.1), rel_tol=1e-9)
    valid = np.isfinite(gt) & garg_crop_mask(*gt.shape)
    g = gt[valid]
    assert math.isclose(biased['sq_rel'], np.mean(0.01 * g), rel_tol=1e-9)
    assert math.isclose(biased['rmse'], math.sqrt(np.mean((0.1 * g) ** 2)), rel_tol=1e-9)
    assert biased['a1'] == 1.0
    far, _ = depth_metrics(gt, gt * 1.3, median_scaling=False)
    assert far['a1'] == 0.0 and far['a2'] == 1.0


def test_distance_bands_closed_forms():
    """Near pixels drawn 2x too far: their band holds the known error, share and ratio."""
    gt = np.full((40, 120), 30.0)
    gt[:, :60] = 4.0  # half the image near, half in the 20-40 m band
    pred = gt.copy()
    pred[:, :60] = 8.0
    bands = distance_bands([(gt, pred)], median_scaling=False, garg_crop=False)
    assert [(b['lo'], b['hi']) for b in bands] == [(0.0, 5.0), (20.0, 40.0)]
    near, far = bands
    assert near['pixels'] == far['pixels'] == 0.5
    assert math.isclose(near['abs_rel'], 1.0) and far['abs_rel'] == 0.0
    assert near['error_share'] == 1.0 and near['ratio'] == 2.0 and far['ratio'] == 1.0
    # The pooled mean over bands is the image's abs_rel (one image, every pixel valid).
    metrics, _ = depth_metrics(gt, pred, median_scaling=False, garg_crop=False)
    assert math.isclose(sum(b['pixels'] * b['abs_rel'] for b in bands), metrics['abs_rel'])
    # Median scaling as the protocol applies it: a scaled copy of the truth has no error.
    scaled = distance_bands([(g, g * 0.2) for g in (_gt(1), _gt(2))])
    assert all(b['abs_rel'] < 1e-12 and math.isclose(b['ratio'], 1.0) for b in scaled)
    assert math.isclose(sum(b['pixels'] for b in scaled), 1.0)
    with pytest.raises(ValueError, match='increasing'):
        distance_bands([(gt, pred)], edges=(0, 5, 5))
    with pytest.raises(ValueError, match='no images'):
        distance_bands([])


def test_depth_metrics_crop_cap_and_errors():
    """The Garg crop and the 80 m cap decide which pixels count; empty input is refused."""
    mask = garg_crop_mask(375, 1242)
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    # int() truncation, as the protocol's reference code does
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (153, 371, 44, 1197)
    gt = np.full((10, 10), 100.0)
    gt[5, 5] = 10.0
    metrics, _ = depth_metrics(gt, np.full((10, 10), 20.0), median_scaling=False,
                               garg_crop=False)
    assert math.isclose(metrics['abs_rel'], 1.0)  # only the 10 m pixel is under the cap
    with pytest.raises(ValueError, match='no valid'):
        depth_metrics(np.full((4, 4), np.nan), np.ones((4, 4)))
    with pytest.raises(ValueError, match='one shape'):
        depth_metrics(np.ones((4, 4)), np.ones((4, 5)))
    summary = evaluate_depths([(_gt(1), _gt(1) * 2.0), (_gt(2), _gt(2) * 4.0)])
    assert summary['images'] == 2 and summary['abs_rel'] < 1e-12
    assert math.isclose(summary['scale_median'], (0.5 + 0.25) / 2)


def _trajectory(n=12, seed=0):
    rng = np.random.default_rng(seed)
    poses = [np.eye(4)]
    for _ in range(n - 1):
        step = np.eye(4)
        step[:3, :3] = Rotation.from_rotvec(rng.normal(0, 0.03, 3)).as_matrix()
        step[:3, 3] = [rng.normal(0, 0.05), 0.0, 0.8]
        poses.append(poses[-1] @ step)
    return np.stack(poses)


def test_ate_is_zero_for_a_scaled_trajectory_and_known_otherwise():
    """Per-snippet scale alignment absorbs monocular scale; an offset gives its closed form."""
    gt = _trajectory()
    scaled = gt.copy()
    scaled[:, :3, 3] *= 0.2
    result = evaluate_trajectory(gt, scaled)
    assert result['ate_mean'] < 1e-12 and result['snippets'] == 8
    assert result['rmse_aligned'] < 1e-9
    pts = np.zeros((5, 3))
    pts[:, 2] = np.arange(5.0)
    pred = pts.copy()
    pred[4, 0] = 1.0  # one point off sideways by 1 m
    # Scale s = sum(gt.pred) / sum(pred^2) = 30 / 31; errors: z (s - 1) along z, s sideways.
    s = 30 / 31
    expected = math.sqrt(sum((z * (s - 1)) ** 2 for z in range(5)) + s ** 2) / 5
    assert math.isclose(snippet_ate(pts, pred), expected, rel_tol=1e-12)


def test_rotation_scores_closed_form():
    """Same motion in another world frame: no error, gain 1; half the turn: gain 0.5."""
    gt = _trajectory(seed=4)
    world = np.eye(4)
    world[:3, :3] = Rotation.from_rotvec([0.3, 0.1, -0.7]).as_matrix()
    world[:3, 3] = [4.0, -2.0, 1.0]
    same = rotation_scores(gt, world @ gt)
    assert same['rotation_error_deg'] < 1e-9 and abs(same['rotation_gain'] - 1) < 1e-12
    steps = [np.linalg.inv(gt[i]) @ gt[i + 1] for i in range(len(gt) - 1)]
    half = [np.eye(4)]
    angles = []
    for step in steps:
        rotvec = Rotation.from_matrix(step[:3, :3]).as_rotvec()
        angles.append(np.degrees(np.linalg.norm(rotvec)) / 2)
        small = step.copy()
        small[:3, :3] = Rotation.from_rotvec(rotvec / 2).as_matrix()
        half.append(half[-1] @ small)
    scores = rotation_scores(gt, np.stack(half))
    assert math.isclose(scores['rotation_gain'], 0.5, rel_tol=1e-9)
    assert math.isclose(scores['rotation_error_deg'], np.mean(angles), rel_tol=1e-9)
    assert evaluate_trajectory(gt, np.stack(half))['rotation_gain'] == scores['rotation_gain']
    with pytest.raises(ValueError, match='N >= 2'):
        rotation_scores(gt[:1], gt[:1])


def test_chain_motions_and_similarity_alignment():
    """Chained next_T_prev reproduce the poses; Umeyama recovers a known similarity."""
    gt = _trajectory(seed=3)
    motions = [np.linalg.inv(gt[i + 1]) @ gt[i] for i in range(len(gt) - 1)]
    np.testing.assert_allclose(chain_motions(motions), gt, atol=1e-12)
    rot = Rotation.from_rotvec([0.2, -0.5, 0.3]).as_matrix()
    src = np.random.default_rng(1).normal(size=(20, 3))
    dst = 2.5 * src @ rot.T + [1.0, -2.0, 0.5]
    scale, r, t = align_similarity(src, dst)
    assert math.isclose(scale, 2.5, rel_tol=1e-10)
    np.testing.assert_allclose(r, rot, atol=1e-10)
    np.testing.assert_allclose(t, [1.0, -2.0, 0.5], atol=1e-10)
    # scipy's Kabsch agrees on the rotation of the centred clouds.
    ref, _ = Rotation.align_vectors(dst - dst.mean(0), src - src.mean(0))
    np.testing.assert_allclose(ref.as_matrix(), r, atol=1e-8)


def test_pictures_are_written(tmp_path):
    """Depth grids and trajectory plots are PNG files with content."""
    from PIL import Image

    gt = _gt()
    image = np.zeros(gt.shape + (3,), np.uint8)
    path = save_depth_grid(tmp_path / 'd.png', [image], {'truth': [gt], 'pred': [gt * 2]})
    traj = save_trajectory_plot(tmp_path / 't.png', _trajectory()[:, :3, 3],
                                {'pred': _trajectory()[:, :3, 3] * 0.9})
    for p in (path, traj):
        with Image.open(p) as img:
            assert img.format == 'PNG' and np.asarray(img).std() > 1


def test_fixed_map_share_closed_forms():
    rng = np.random.default_rng(0)
    prior = np.exp(rng.normal(size=(8, 12)))
    # One map at different scales: all of it is the fixed map.
    assert fixed_map_share([prior * s for s in (0.5, 1.0, 3.0)]) == pytest.approx(1.0)
    # Two maps whose normalised logs are x and -x: their mean is 0, nothing is explained.
    x = rng.normal(size=(8, 12))
    x -= x.mean()
    assert fixed_map_share([np.exp(x), np.exp(-x)]) == pytest.approx(0.0, abs=1e-12)
    # x + p and -x + p with p orthogonal to x: the share is |p|^2 / (|x|^2 + |p|^2).
    p = rng.normal(size=(8, 12))
    p -= p.mean()
    p -= (p * x).sum() / (x * x).sum() * x
    expect = (p ** 2).sum() / ((x ** 2).sum() + (p ** 2).sum())
    assert fixed_map_share([np.exp(x + p), np.exp(p - x)]) == pytest.approx(expect)
    with pytest.raises(ValueError, match='at least two'):
        fixed_map_share([prior])


def test_content_correlation_closed_forms_and_numpy():
    rng = np.random.default_rng(4)
    layout = rng.normal(size=(8, 12))  # what every frame shares
    frames = [np.exp(layout + 0.3 * rng.normal(size=(8, 12))) for _ in range(6)]
    # The truth at another scale per frame follows it exactly; one fixed map not at all,
    # even the truth's own mean map, which a fixed-map share would call a perfect prior.
    assert content_correlation(frames, [f * s for f, s in zip(frames, range(1, 7))]) \
        == pytest.approx(1.0)
    assert content_correlation(frames, [np.exp(layout)] * 6) == 0.0
    # The frames of the sequence reversed (same scene, wrong moments): about 0 or below.
    assert content_correlation(frames, frames[::-1]) < 0.3
    # Against numpy: the correlation of the stacked deviations from the mean map.
    preds = [f * np.exp(0.2 * rng.normal(size=(8, 12))) for f in frames]
    x = np.stack([np.log(p) - np.log(p).mean() for p in preds])
    y = np.stack([np.log(f) - np.log(f).mean() for f in frames])
    expect = np.corrcoef((x - x.mean(0)).ravel(), (y - y.mean(0)).ravel())[0, 1]
    assert content_correlation(frames, preds) == pytest.approx(expect, rel=1e-9)
    with pytest.raises(ValueError, match='same in every frame'):
        content_correlation([frames[0]] * 3, frames[:3])
    with pytest.raises(ValueError, match='at least two'):
        content_correlation(frames[:1], frames[:1])


def test_log_correlation_is_scale_free():
    rng = np.random.default_rng(1)
    gt = np.exp(rng.normal(size=(10, 20))) + 1.0
    assert log_correlation(gt, 7.0 * gt) == pytest.approx(1.0)
    assert log_correlation(gt, 1.0 / gt) == pytest.approx(-1.0)
    noise = np.exp(rng.normal(size=(10, 20)))
    assert abs(log_correlation(gt, noise)) < 0.3


def test_median_scaled_picture_column_removes_the_scale():
    truth = np.array([[1.0, 2.0, np.inf], [4.0, 8.0, 3.0]])
    prediction = 0.5 * np.where(np.isfinite(truth), truth, 7.0)
    prediction[0, 0] = np.nan
    scaled = median_scaled(prediction, truth)
    ok = np.isfinite(truth) & np.isfinite(prediction)
    np.testing.assert_allclose(scaled[ok], truth[ok])
    assert np.isnan(scaled[0, 0])
    # With a cap, truth at or beyond it is left out of the medians (the metrics' 80 m).
    far = np.array([[2.0, 4.0, 100.0, 100.0, 100.0]])
    capped = median_scaled(np.array([[1.0, 2.0, 3.0, 3.0, 3.0]]), far, max_depth=80.0)
    np.testing.assert_allclose(capped[0, :2], far[0, :2])
    # No common valid pixel: returned as it is.
    np.testing.assert_array_equal(median_scaled(np.ones((1, 2)), np.full((1, 2), np.nan)),
                                  np.ones((1, 2)))
