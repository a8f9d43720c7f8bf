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


"""The one error type of the data loaders.

May import: numpy, torch, Pillow, PyAV, rosbags, :mod:`mono_depth_ros.core` and other ``data``
modules (never ROS).
"""


class DataError(ValueError):
    """A data file or message is missing, malformed or inconsistent (message names it).

    ``kind`` names the class of fault in a few words (``'encoding'``, ``'layout'``,
    ``'decode'``, ``'too_large'``, ...): the node counts and throttles its warnings per kind.
    """

    def __init__(self, message: str, kind: str = 'data') -> None:
        """Keep ``message`` as the error text and ``kind`` as :attr:`kind`."""
        super().__init__(message)
        self.kind = kind
