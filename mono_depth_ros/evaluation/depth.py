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


"""Depth metrics as SfMLearner, vid2depth and Monodepth2 report them on KITTI's Eigen split.

Garg crop (rows 0.408-0.992 of the height, columns 0.036-0.964 of the width), ground truth
and prediction clipped to ``[min_depth, max_depth]`` (1e-3, 80 m), optional per-image
median scaling ``pred * median(gt) / median(pred)``, and the seven metrics averaged over
images.

May import: numpy, scipy, matplotlib (torch only to resize), :mod:`mono_depth_ros.core`.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ['DEPTH_METRICS', 'DISTANCE_BANDS', 'content_correlation', 'depth_metrics',
           'distance_bands', 'evaluate_depths', 'fixed_map_share', 'garg_crop_mask',
           'log_correlation', 'median_scaled', 'resize_depth']

DEPTH_METRICS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'a1', 'a2', 'a3')


def garg_crop_mask(height: int, width: int) -> np.ndarray:
    """Boolean ``(H, W)``: the Garg crop used by the Eigen protocol."""
    mask = np.zeros((height, width), dtype=bool)
    mask[int(0.40810811 * height):int(0.99189189 * height),
         int(0.03594771 * width):int(0.96405229 * width)] = True
    return mask


def _evaluated_pixels(gt: np.ndarray, pred: np.ndarray, median_scaling: bool,
                      garg_crop: bool, min_depth: float, max_depth: float
                      ) -> Tuple[np.ndarray, np.ndarray, float]:
    """Return the protocol's valid pixels of one image: ``(gt, scaled clipped pred, scale)``."""
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if gt.shape != pred.shape or gt.ndim != 2:
        raise ValueError(f'gt and pred must be (H, W) of one shape, got {gt.shape} and '
                         f'{pred.shape}')
    valid = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth) & np.isfinite(pred)
    if garg_crop:
        valid &= garg_crop_mask(*gt.shape)
    if not valid.any():
        raise ValueError('no valid ground-truth pixel in the evaluated region')
    g, p = gt[valid], pred[valid]
    scale = float(np.median(g) / np.median(p)) if median_scaling else 1.0
    return g, np.clip(p * scale, min_depth, max_depth), scale


def depth_metrics(gt: np.ndarray, pred: np.ndarray, median_scaling: bool = True,
                  garg_crop: bool = True, min_depth: float = 1e-3,
                  max_depth: float = 80.0) -> Tuple[Dict[str, float], float]:
    """Seven metrics for one image; return ``(metrics, scale applied)``.

    Args:
        gt: ``(H, W)`` metres, NaN / 0 / inf where unknown.
        pred: ``(H, W)`` predicted depth (any positive scale when ``median_scaling``).
        median_scaling: scale ``pred`` by ``median(gt) / median(pred)`` over valid pixels.
        garg_crop: evaluate inside the Garg crop only.
        min_depth: lower clip and validity bound.
        max_depth: upper clip and validity bound (the 80 m cap).

    Raises:
        ValueError: shapes differ or no valid pixel is left.

    """
    g, p, scale = _evaluated_pixels(gt, pred, median_scaling, garg_crop, min_depth,
                                    max_depth)
    thresh = np.maximum(g / p, p / g)
    return {
        'abs_rel': float(np.mean(np.abs(g - p) / g)),
        'sq_rel': float(np.mean((g - p) ** 2 / g)),
        'rmse': float(np.sqrt(np.mean((g - p) ** 2))),
        'rmse_log': float(np.sqrt(np.mean((np.log(g) - np.log(p)) ** 2))),
        'a1': float(np.mean(thresh < 1.25)),
        'a2': float(np.mean(thresh < 1.25 ** 2)),
        'a3': float(np.mean(thresh < 1.25 ** 3)),
    }, scale


def evaluate_depths(pairs: Iterable[Tuple[np.ndarray, np.ndarray]],
                    median_scaling: bool = True, garg_crop: bool = True,
                    max_depth: float = 80.0, resize: Optional[str] = 'nearest'
                    ) -> Dict[str, float]:
    """Mean metrics over ``(gt, pred)`` pairs, plus the scale ratios' median and spread.

    A prediction smaller than its ground truth is resized to the ground truth's size
    (bilinear on depth, as the protocol does) before evaluation.
    """
    sums = {name: [] for name in DEPTH_METRICS}
    scales = []
    for gt, pred in pairs:
        if pred.shape != gt.shape and resize:
            pred = resize_depth(pred, gt.shape)
        metrics, scale = depth_metrics(gt, pred, median_scaling, garg_crop,
                                       max_depth=max_depth)
        for name in DEPTH_METRICS:
            sums[name].append(metrics[name])
        scales.append(scale)
    if not scales:
        raise ValueError('no images to evaluate')
    out = {name: float(np.mean(values)) for name, values in sums.items()}
    out['images'] = len(scales)
    out['scale_median'] = float(np.median(scales))
    out['scale_std_over_median'] = float(np.std(np.array(scales) / np.median(scales)))
    return out


DISTANCE_BANDS = (0.0, 5.0, 10.0, 20.0, 40.0, 80.0)


def distance_bands(pairs: Iterable[Tuple[np.ndarray, np.ndarray]],
                   edges: Sequence[float] = DISTANCE_BANDS, median_scaling: bool = True,
                   garg_crop: bool = True, max_depth: float = 80.0,
                   ) -> List[Dict[str, float]]:
    """Where the error lies: abs_rel by true distance, over all pixels of ``(gt, pred)`` pairs.

    Each image is scaled and cropped as :func:`depth_metrics` does (predictions smaller than
    their truth resized first); then the pixels are pooled and split at ``edges`` (metres) of
    the true depth. Per band: ``lo``, ``hi``, ``pixels`` (its share of all pixels),
    ``abs_rel`` (mean over its pixels), ``error_share`` (its part of the summed absolute
    relative error) and ``ratio`` (median of prediction / truth: above 1, drawn too far).
    Empty bands are left out.
    """
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f'edges must be at least two increasing distances, got {edges}')
    gs, ps = [], []
    for gt, pred in pairs:
        if pred.shape != gt.shape:
            pred = resize_depth(pred, gt.shape)
        g, p, _ = _evaluated_pixels(gt, pred, median_scaling, garg_crop, 1e-3, max_depth)
        gs.append(g)
        ps.append(p)
    if not gs:
        raise ValueError('no images to evaluate')
    g, p = np.concatenate(gs), np.concatenate(ps)
    error = np.abs(g - p) / g
    out = []
    for lo, hi in zip(edges, edges[1:]):
        band = (g >= lo) & (g < hi)
        if band.any():
            out.append({'lo': lo, 'hi': hi, 'pixels': float(band.mean()),
                        'abs_rel': float(error[band].mean()),
                        'error_share': float(error[band].sum() / error.sum()),
                        'ratio': float(np.median(p[band] / g[band]))})
    return out


def median_scaled(prediction: np.ndarray, truth: np.ndarray,
                  max_depth: Optional[float] = None) -> np.ndarray:
    """Return ``prediction`` times the ratio of medians over pixels valid in both.

    The shape of the depth freed of the monocular scale, as the median-scaled metrics see it
    (for pictures). ``max_depth``: leave out truth at or beyond it (the metrics' 80 m cap).
    A pair without a common valid pixel is returned unscaled.
    """
    ok = np.isfinite(prediction) & np.isfinite(truth) & (truth > 0) & (prediction > 0)
    if max_depth is not None:
        ok &= truth < max_depth
    if not ok.any():
        return prediction
    return prediction * (np.median(truth[ok]) / np.median(prediction[ok]))


def resize_depth(depth: np.ndarray, shape) -> np.ndarray:
    """Bilinear resize of a depth map ``(h, w)`` to ``shape`` (the protocol's upsampling)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[None, None]
    return torch.nn.functional.interpolate(t, size=tuple(shape), mode='bilinear',
                                           align_corners=False)[0, 0].numpy()


def _normalised_log(depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Log depth minus its mean over ``valid`` pixels (scale-free), 0 elsewhere."""
    out = np.zeros(depth.shape, dtype=np.float64)
    logs = np.log(depth[valid])
    out[valid] = logs - logs.mean()
    return out


def fixed_map_share(depths: Sequence[np.ndarray]) -> float:
    """Share of the per-pixel variance of normalised log depth that one fixed map explains.

    Each map's log depth has its own mean removed (monocular depth has no scale); the
    fixed map is the mean of those maps. The share is ``1 - sum |x_i - m|^2 / sum |x_i|^2``
    over pixels valid (finite, positive) in every map: 1 for a network that draws the same
    map whatever it sees, near 0 when the maps follow the scenes. Needs at least two maps.
    """
    maps = [np.asarray(d, dtype=np.float64) for d in depths]
    if len(maps) < 2 or any(m.shape != maps[0].shape or m.ndim != 2 for m in maps):
        raise ValueError('need at least two (H, W) depth maps of one shape')
    valid = np.logical_and.reduce([np.isfinite(m) & (m > 0) for m in maps])
    if valid.sum() < 2:
        raise ValueError('no pixel is valid in every depth map')
    x = np.stack([_normalised_log(m, valid)[valid] for m in maps])
    total = float((x ** 2).sum())
    if total == 0:
        return 1.0
    return 1.0 - float(((x - x.mean(0)) ** 2).sum()) / total


def content_correlation(gts: Sequence[np.ndarray], preds: Sequence[np.ndarray],
                        max_depth: float = 80.0) -> float:
    """Correlation of what changes from frame to frame in predicted and in true depth.

    Both sequences of maps are taken as normalised log depth (each map's mean removed; the
    truth capped at ``max_depth`` so that the sky counts); from each map the sequence's mean
    map is subtracted, leaving what is particular to that frame, and the two sets of
    deviations are correlated over the pixels valid in every map. A network that draws one
    fixed map scores 0 whatever that map is, a perfect one 1, and one whose frames follow
    other frames of the scene about 0. Unlike :func:`fixed_map_share`, it does not depend on
    how much a scene's depth itself changes along the path (a street seen from a car is
    largely the same layout in every frame, so its true depth has a high fixed-map share).
    """
    gts = [np.minimum(np.asarray(g, dtype=np.float64), max_depth) for g in gts]
    preds = [np.asarray(p, dtype=np.float64) for p in preds]
    if len(gts) < 2 or len(gts) != len(preds) or any(g.shape != gts[0].shape for g in gts):
        raise ValueError('need at least two true maps of one shape and one prediction each')
    preds = [p if p.shape == g.shape else resize_depth(p, g.shape) for g, p in zip(gts, preds)]
    valid = np.logical_and.reduce([np.isfinite(m) & (m > 0) for m in gts + preds])
    if valid.sum() < 2:
        raise ValueError('no pixel is valid in every map')
    x = np.stack([_normalised_log(p, valid)[valid] for p in preds])
    y = np.stack([_normalised_log(g, valid)[valid] for g in gts])
    dx, dy = x - x.mean(0), y - y.mean(0)
    truth_energy, pred_energy = float((dy ** 2).sum()), float((dx ** 2).sum())
    tiny = 1e-20  # of the maps' own energy: identical maps up to rounding
    if truth_energy <= tiny * float((y ** 2).sum()):
        raise ValueError('the true depth is the same in every frame: nothing to follow')
    if pred_energy <= tiny * float((x ** 2).sum()):
        return 0.0
    return float((dx * dy).sum() / np.sqrt(truth_energy * pred_energy))


def log_correlation(gt: np.ndarray, pred: np.ndarray, max_depth: float = 80.0) -> float:
    """Pearson correlation of log predicted and log true depth over valid pixels (scale-free).

    A prediction with no resemblance to the scene scores about 0, a perfect one 1.
    """
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != gt.shape:
        pred = resize_depth(pred, gt.shape)
    valid = (np.isfinite(gt) & (gt > 1e-3) & (gt < max_depth) & np.isfinite(pred)
             & (pred > 0))
    if valid.sum() < 3:
        raise ValueError('fewer than three valid pixels')
    return float(np.corrcoef(np.log(gt[valid]), np.log(pred[valid]))[0, 1])
