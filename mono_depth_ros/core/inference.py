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


"""Running the networks on whole sequences: depths, pairwise motions, photometric error.

Shared by evaluation, the training demo, the benchmarks and the pipeline. Frames are RGB
``uint8`` arrays ``(H0, W0, 3)`` of any size; they are resized to the networks' input size
with Pillow's box filter, exactly as training snippets are prepared
(:func:`mono_depth_ros.data.snippets.resize_frame`), so a network sees at run time what it
saw in training. Depths come back at the network's resolution.

May import: torch, numpy, Pillow and the core modules.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.geometry import pose_vec_to_mat
from mono_depth_ros.core.losses import snippet_loss
from mono_depth_ros.core.networks import disparity_to_depth
from mono_depth_ros.core.refine import refine_motion, RefineConfig
from mono_depth_ros.core.resize import box_resize, resize_plan
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['frame_to_input', 'frames_to_tensor', 'pairwise_motions', 'photometric_error',
           'predict_depths', 'refined_motions']


def frames_to_tensor(frames: Sequence[np.ndarray], size: Tuple[int, int],
                     device='cpu') -> torch.Tensor:
    """Stack frames into ``(N, 3, H, W)`` float in ``[0, 1]`` at ``size = (H, W)``.

    ``uint8`` frames of another size are box-filtered as Pillow does (training's resize, and
    2-3x faster than torch's area interpolation here); frames of other types (values 0 to
    255) by torch's area interpolation. The result is contiguous in the usual ``NCHW``
    layout: a permuted ``(N, H, W, 3)`` array would be channels-last, which made the depth
    network 1.5x slower on this CPU.
    """
    h, w = (int(v) for v in size)
    arrays = [np.asarray(f) for f in frames]
    if all(a.dtype == np.uint8 for a in arrays):
        arrays = [a if a.shape[:2] == (h, w) else box_resize(a, (h, w)) for a in arrays]
    batch = torch.from_numpy(np.stack(arrays)).to(device).permute(0, 3, 1, 2)
    batch = batch.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
    if tuple(batch.shape[-2:]) != (h, w):  # uint8 frames are at size already
        batch = F.interpolate(batch, size=(h, w), mode='area')
    return batch


def frame_to_input(rgb: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """One ``uint8`` frame ``(H0, W0, 3)`` as the networks' ``(1, 3, H, W)`` float32 array.

    The same values as :func:`frames_to_tensor` (Pillow's box filter, then ``/ 255``), in
    numpy: the per-frame path of the node, where a dozen small torch calls cost more than
    the conversion itself. The resize is :class:`~mono_depth_ros.core.resize.BoxResize`'s
    matrix form of Pillow's filter (equal to it, without Pillow's per-call conversions).
    """
    h, w = (int(v) for v in size)
    if rgb.shape[:2] != (h, w):
        rgb = resize_plan(tuple(rgb.shape[:2]), (h, w)).values(rgb)
    out = np.empty((1, 3, h, w), np.float32)
    np.divide(rgb.transpose(2, 0, 1), np.float32(255.0), out=out[0])
    return out


@torch.no_grad()
def predict_depths(depth_net: torch.nn.Module, frames: Sequence[np.ndarray],
                   size: Tuple[int, int], batch_size: int = 8) -> List[np.ndarray]:
    """Depth ``(H, W)`` float32 per frame (network scale, network resolution)."""
    depth_net.eval()
    device = next(depth_net.parameters()).device
    out = []
    for start in range(0, len(frames), batch_size):
        images = frames_to_tensor(frames[start:start + batch_size], size, device)
        disparity = depth_net(images)[0]
        out += list(disparity_to_depth(disparity[:, 0]).cpu().numpy())
    return out


@torch.no_grad()
def pairwise_motions(ego_net: torch.nn.Module, frames: Sequence[np.ndarray],
                     size: Tuple[int, int], seq_length: int = 3) -> np.ndarray:
    """``next_T_prev`` ``(N - 1, 4, 4)`` for every consecutive pair of ``N`` frames.

    Each pair is taken from the window of ``seq_length`` frames that starts at the pair
    (or the last window, at the end of the sequence).
    """
    n = len(frames)
    if n < seq_length:
        raise ValueError(f'need at least {seq_length} frames, got {n}')
    ego_net.eval()
    device = next(ego_net.parameters()).device
    images = frames_to_tensor(frames, size, device)
    starts = list(range(0, n - seq_length + 1))
    windows = torch.stack([images[s:s + seq_length] for s in starts])
    vectors = torch.cat([ego_net(windows[i:i + 16]) for i in range(0, len(windows), 16)])
    motions = []
    for pair in range(n - 1):
        start = min(pair, n - seq_length)
        motions.append(vectors[start, pair - start])
    return pose_vec_to_mat(torch.stack(motions).double()).cpu().numpy()


@torch.no_grad()
def refined_motions(depth_net: torch.nn.Module, frames: Sequence[np.ndarray],
                    next_T_prev: np.ndarray, size: Tuple[int, int], intrinsics: np.ndarray,
                    config: RefineConfig = RefineConfig(), batch_size: int = 16
                    ) -> np.ndarray:
    """Refine every pair's ``next_T_prev`` by photometric alignment on the earlier frame's depth.

    Args:
        depth_net: the depth network that gives each earlier frame's depth.
        frames: the video, ``N`` RGB frames of any size.
        next_T_prev: ``(N - 1, 4, 4)`` motions, e.g. from :func:`pairwise_motions`.
        size: the networks' input size ``(H, W)``.
        intrinsics: ``(3, 3)`` for ``size``.
        config: :class:`~mono_depth_ros.core.refine.RefineConfig`.
        batch_size: pairs refined at once.

    """
    if len(next_T_prev) != len(frames) - 1:
        raise ValueError(f'{len(frames)} frames need {len(frames) - 1} motions, got '
                         f'{len(next_T_prev)}')
    depth_net.eval()
    device = next(depth_net.parameters()).device
    k = torch.as_tensor(np.asarray(intrinsics), dtype=torch.float32, device=device)
    motions = torch.as_tensor(np.asarray(next_T_prev), dtype=torch.float32, device=device)
    out = []
    for start in range(0, len(motions), batch_size):
        stop = min(start + batch_size, len(motions))
        images = frames_to_tensor(frames[start:stop + 1], size, device)
        depth = disparity_to_depth(depth_net(images[:-1])[0])
        out.append(refine_motion(motions[start:stop], images[:-1], images[1:], depth, k,
                                 config))
    return torch.cat(out).double().cpu().numpy()


@torch.no_grad()
def photometric_error(depth_net: torch.nn.Module, ego_net: torch.nn.Module,
                      images: torch.Tensor, intrinsics: torch.Tensor,
                      seq_length: int = 3, min_reprojection: bool = False,
                      auto_mask: bool = False) -> float:
    """Mean masked L1 reconstruction term over every consecutive snippet of a video.

    Args:
        depth_net: the depth network (put in eval mode).
        ego_net: the ego-motion network (put in eval mode).
        images: the video's frames, shape ``(N, 3, H, W)`` in ``[0, 1]``, ``N >= seq_length``.
        intrinsics: ``(3, 3)`` for ``H x W``.
        seq_length: frames per snippet.
        min_reprojection: score the per-pixel minimum over every other frame of the
            snippet (the loss option of that name), as weights trained with it optimise.
        auto_mask: score static pixels unwarped (the loss option of that name).

    """
    if len(images) < seq_length:
        raise ValueError(f'need at least {seq_length} frames, got {len(images)}')
    depth_net.eval()
    ego_net.eval()
    config = LossConfig(ssim_weight=0.0, smoothness_weight=0.0, icp_weight=0.0,
                        min_reprojection=min_reprojection, auto_mask=auto_mask)
    k = torch.as_tensor(intrinsics, dtype=images.dtype, device=images.device).reshape(1, 3, 3)
    values = []
    for start in range(len(images) - seq_length + 1):
        terms = snippet_loss(depth_net, ego_net, images[None, start:start + seq_length], k,
                             config)
        values.append(terms['reconstruction'].item())
    return float(np.mean(values))
