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


"""Pictures of results: depth colour maps beside ground truth, trajectory plots, curves (PNG).

May import: numpy and matplotlib (Agg backend, no screen needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import numpy as np

__all__ = ['colourise_depth', 'save_curves', 'save_depth_grid', 'save_trajectory_plot']

PathLike = Union[str, Path]


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, path: PathLike) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def colourise_depth(depth: np.ndarray, vmax_inverse: Optional[float] = None) -> np.ndarray:
    """RGB ``uint8`` ``(H, W, 3)`` of inverse depth with the magma map; NaN shows black."""
    from matplotlib import colormaps

    inv = 1.0 / np.asarray(depth, dtype=np.float64)
    finite = np.isfinite(inv)
    top = vmax_inverse or (np.percentile(inv[finite], 95) if finite.any() else 1.0)
    rgb = colormaps['magma'](np.clip(np.where(finite, inv, 0) / top, 0, 1))[..., :3]
    rgb[~finite] = 0
    return (rgb * 255).round().astype(np.uint8)


def save_depth_grid(path: PathLike, images: Sequence[np.ndarray],
                    columns: Dict[str, Sequence[np.ndarray]], title: str = '') -> Path:
    """Write rows of ``input | column 1 | column 2 ...`` (depths as inverse-depth colours).

    ``columns`` maps a title to one depth ``(H, W)`` per row; every depth in a row shares
    the colour scale of the first column (normally the ground truth).
    """
    plt = _pyplot()
    rows = len(images)
    cols = 1 + len(columns)
    h, w = images[0].shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols * w / max(h, 1) / 3 + 1,
                                                  1.1 * rows * 1.0 + 0.6), squeeze=False)
    names = list(columns)
    for r in range(rows):
        first = np.asarray(columns[names[0]][r], dtype=np.float64)
        inv = 1.0 / first[np.isfinite(first) & (first > 0)]
        top = float(np.percentile(inv, 95)) if inv.size else None
        axes[r, 0].imshow(images[r])
        for c, name in enumerate(names, 1):
            axes[r, c].imshow(colourise_depth(columns[name][r], top))
        for c, name in enumerate(['input'] + names):
            axes[r, c].set_axis_off()
            if r == 0:
                axes[r, c].set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)


def save_trajectory_plot(path: PathLike, gt_positions: np.ndarray,
                         predicted: Dict[str, np.ndarray], title: str = '') -> Path:
    """Top view (x right, z forward) of the ground truth and predicted camera paths."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    gt = np.asarray(gt_positions)
    ax.plot(gt[:, 0], gt[:, 2], 'k-', lw=2, label='ground truth')
    ax.plot(gt[0, 0], gt[0, 2], 'ko')
    for name, positions in predicted.items():
        p = np.asarray(positions)
        ax.plot(p[:, 0], p[:, 2], '-', lw=1.2, label=name)
    ax.set_xlabel('x (m, right)')
    ax.set_ylabel('z (m, forward)')
    ax.set_aspect('equal', adjustable='datalim')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(plt, fig, path)


def save_curves(path: PathLike, curves: Dict[str, Sequence[float]], xlabel: str = 'step',
                ylabel: str = '', title: str = '',
                x: Optional[Sequence[float]] = None) -> Path:
    """Line plot of named series over ``x`` (default ``0, 1, ...``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        xs = np.arange(len(values)) if x is None else np.asarray(x, dtype=np.float64)
        ax.plot(xs, values, lw=0.8, marker='.' if len(values) < 40 else None, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(plt, fig, path)
