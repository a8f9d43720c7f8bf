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


"""The community's evaluation protocols: Eigen depth metrics, snippet ATE, pictures.

May import: numpy, scipy, matplotlib (torch only to resize), :mod:`mono_depth_ros.core`.
"""

from mono_depth_ros.evaluation.depth import DEPTH_METRICS, depth_metrics, evaluate_depths
from mono_depth_ros.evaluation.pose import (align_similarity, chain_motions,
                                            evaluate_trajectory, rotation_scores,
                                            snippet_ate)

__all__ = ['DEPTH_METRICS', 'align_similarity', 'chain_motions', 'depth_metrics',
           'evaluate_depths', 'evaluate_trajectory', 'rotation_scores', 'snippet_ate']
