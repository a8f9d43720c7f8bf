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

"""Typed configuration of the networks and the loss, shared by training and the node.

Each configuration is a frozen dataclass that converts to and from a plain ``dict`` (for
YAML files and for the weights' JSON metadata). Unknown keys are an error that names them.

May import: torch, numpy, scipy, safetensors and other ``mono_depth_ros.core`` modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import (Any, Dict, get_args, get_origin, get_type_hints, Mapping, Optional, Type,
                    TypeVar, Union)

__all__ = ['LossConfig', 'ModelConfig', 'from_dict']

T = TypeVar('T')


def from_dict(cls: Type[T], values: Mapping[str, Any], where: str = 'config') -> T:
    """Build the dataclass ``cls`` from ``values``, refusing unknown keys.

    Raises:
        ValueError: ``values`` is not a mapping or holds a key that ``cls`` does not have.

    """
    if not isinstance(values, Mapping):
        raise ValueError(f'{where} must be a mapping, got {type(values).__name__}')
    known = sorted(f.name for f in fields(cls))
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f'{where}: unknown key(s) {unknown}; known keys: {known}')
    hints = get_type_hints(cls)
    return cls(**{name: _coerce(value, hints[name], f'{where}.{name}')
                  for name, value in values.items()})


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a field's type; numbers written as text become numbers.

    YAML reads ``1e-3`` as a string; a float field takes it (and an int) as a float.
    """
    if value is None:
        if type(None) in get_args(hint):
            return None
        raise ValueError(f'{where}: a value is required (got null)')
    if get_origin(hint) is Union:
        hint = next(a for a in get_args(hint) if a is not type(None))
    base = get_origin(hint) or hint
    try:
        if base is float and not isinstance(value, bool):
            return float(value)
        if base is int and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if base is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if base is tuple:
            return tuple(value)
        if base is str and not isinstance(value, str):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f'{where}: expected {getattr(base, "__name__", base)}, got '
                         f'{value!r}') from None
    return value


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the depth and ego-motion networks (each field documented below)."""

    height: int = 128
    """Network input height in pixels (the paper: 128)."""
    width: int = 416
    """Network input width in pixels (the paper: 416)."""
    seq_length: int = 3
    """Frames per training snippet seen by the ego-motion network (3)."""
    depth_width: float = 1.0
    """Channel multiplier of the depth network (1.0 = the paper's DispNet, about 31.6 M
    parameters; 0.25 is the compact variant for CPU robots)."""
    egomotion_width: float = 1.0
    """Channel multiplier of the ego-motion network."""
    batch_norm: bool = True
    """Batch normalisation after each hidden convolution (as the paper)."""
    egomotion_scale: float = 0.01
    """Factor on the ego-motion head's output (the paper's 0.01). With 0.01 the network
    learns little rotation and memorises what it learns; 0.1 learns and generalises it
    (``python -m benchmarks.egomotion_alone`` measures both). Weights saved before this
    option existed load as 0.01."""
    egomotion_translation_scale: float = 1.0
    """Extra factor on the translation outputs only (on top of ``egomotion_scale``). Trained
    alone with true metric depth on the varied scenes, 10 raised the held-out rotation gain
    at 1500 steps from 0.42 to 0.55 and the training-set gain from 0.62 to 0.75 (the head
    needs outputs near 5 for 0.5 m per frame at 0.1 otherwise, and the wrong translation
    meanwhile confuses the rotation; ``python -m benchmarks.egomotion_alone``)."""
    egomotion_batch_norm: Optional[bool] = None
    """Batch normalisation in the ego-motion network; None follows ``batch_norm``. Trained
    alone with true depth, the network without it reached a steadier held-out rotation gain
    (0.86-0.97 against 0.57-0.85 with it, one seed)."""
    min_disparity: float = 0.01
    """Floor of the depth network's disparity (the paper's 0.01): depth tops out at its
    inverse, in the network's own unit. That unit is free under a photometric loss and grew
    to about 3x the renderer's metres with ``compact_v7``, whose far street ends sit on the
    floor (4.6 % of test pixels, abs_rel 0.28 there). Weights saved before this option
    existed load as 0.01."""

    def __post_init__(self) -> None:
        """Check the values."""
        if self.height < 16 or self.width < 16:
            raise ValueError(f'input size must be at least 16x16, got '
                             f'{self.height}x{self.width}')
        if self.seq_length < 2:
            raise ValueError(f'seq_length must be at least 2, got {self.seq_length}')
        if not (0 < self.depth_width <= 4 and 0 < self.egomotion_width <= 4):
            raise ValueError('depth_width and egomotion_width must be in (0, 4]')
        if not 0 < self.egomotion_scale <= 10:
            raise ValueError(f'egomotion_scale must be in (0, 10], got {self.egomotion_scale}')
        if not 0 < self.min_disparity <= 1:
            raise ValueError(f'min_disparity must be in (0, 1], got {self.min_disparity}')
        if not 0 < self.egomotion_translation_scale <= 1000:
            raise ValueError(f'egomotion_translation_scale must be in (0, 1000], got '
                             f'{self.egomotion_translation_scale}')

    def to_dict(self) -> Dict[str, Any]:
        """Plain ``dict`` for YAML and JSON."""
        return asdict(self)


@dataclass(frozen=True)
class LossConfig:
    """Weights and options of the vid2depth loss (defaults: the paper's).

    Attributes:
        reconstruction_weight: weight of the masked L1 photometric term.
        ssim_weight: weight of the SSIM term.
        smoothness_weight: weight of the edge-aware disparity smoothness term.
        icp_weight: weight of the 3D (ICP) term; 0 disables ICP entirely.
        num_scales: scales of the pyramid (4).
        use_masks: apply the principled validity masks (ablation switch).
        icp_iterations: ICP iterations per call (10).
        icp_association: ``'nearest'`` (exact, the paper's) or ``'projective'``.
        icp_max_correspondence_distance: reject ICP pairs farther apart (metres), or None.
        icp_chunk_size: block size of the exact nearest-neighbour search.
        icp_window: pixel window of the projective association (odd; 5 = 25 candidates).
        normalise_smoothness: divide each disparity map by its mean before the smoothness
            term (off in the paper; on, the term cannot be lowered by shrinking disparity).
        min_reprojection: reconstruct every frame from every other frame of the snippet
            (motions across a gap chained) and keep, per pixel, the source with the lowest
            photometric error (``reconstruction_weight * L1 + ssim_weight * SSIM``):
            pixels occluded in one source are scored on the other (Monodepth2's
            per-pixel minimum; off in the paper).
        auto_mask: where the error without any warp (the source image as it is) is lower
            than the warped error (by more than a 1e-5 margin, so that the ties of zero
            motion keep their gradient), the pixel scores that unwarped error, a constant:
            static scenes and things moving with the camera teach nothing, and a worse
            warp never lowers the loss (Monodepth2's auto-masking; off in the paper).
        icp_tolerance: stop ICP early once no cloud moves by more than this in an
            iteration (see :func:`~mono_depth_ros.core.icp.icp`); None runs every
            iteration (the paper).
        full_resolution: upsample every scale's disparity to the input resolution and
            take the photometric terms there (Monodepth2); smoothness and the 3D term stay
            at each scale's own resolution. Off in the paper.
        refine_iterations: before the photometric terms, refine each predicted motion by
            this many steps of direct alignment on the finest depth
            (:func:`~mono_depth_ros.core.refine.refine_snippets`, detached) and warp with
            the refined value; the ego-motion network's gradient passes straight through
            to its own output. 0 (the paper) warps with the network's motion.
        distillation_weight: with refinement, weight of the term ``distillation``, the
            mean ``|t - t_ref|_1 + 10 |r - r_ref|_1`` (metres, radians) between the
            network's and the refined motion, which pulls the network towards what
            refinement finds.

    """

    reconstruction_weight: float = 0.85
    ssim_weight: float = 0.15
    smoothness_weight: float = 0.05
    icp_weight: float = 0.1
    num_scales: int = 4
    use_masks: bool = True
    icp_iterations: int = 10
    icp_association: str = 'nearest'
    icp_max_correspondence_distance: Optional[float] = None
    icp_chunk_size: int = 2048
    icp_window: int = 5
    normalise_smoothness: bool = False
    min_reprojection: bool = False
    auto_mask: bool = False
    full_resolution: bool = False
    icp_tolerance: Optional[float] = None
    refine_iterations: int = 0
    distillation_weight: float = 1.0

    def __post_init__(self) -> None:
        """Check the values."""
        for name in ('reconstruction_weight', 'ssim_weight', 'smoothness_weight',
                     'icp_weight', 'refine_iterations', 'distillation_weight'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be non-negative, got {getattr(self, name)}')
        if not 1 <= self.num_scales <= 4:
            raise ValueError(f'num_scales must be 1 to 4, got {self.num_scales}')
        if self.icp_tolerance is not None and self.icp_tolerance <= 0:
            raise ValueError(f'icp_tolerance must be positive or null, got {self.icp_tolerance}')
        if self.icp_association not in ('nearest', 'projective'):
            raise ValueError("icp_association must be 'nearest' or 'projective', got "
                             f'{self.icp_association!r}')

    def to_dict(self) -> Dict[str, Any]:
        """Plain ``dict`` for YAML and JSON."""
        return asdict(self)
