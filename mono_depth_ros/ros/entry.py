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

"""Entry points of the installed executables (``ros2 run mono_depth_ros depth_node``).

Importing torch and rclpy takes seconds; a Ctrl-C in that time would end the program
with a KeyboardInterrupt traceback from deep inside an import. These entry points import
the real module only when called and turn such an interrupt into a quiet exit (status 0:
the user asked it to stop, and nothing had started). Once the node runs, its own
``main`` handles signals.

May import: the standard library; the node modules lazily.
"""

import importlib
import sys

__all__ = ['demo', 'depth_node', 'replay']


def _run(target: str) -> None:
    module, name = target.split(':')
    try:
        entry = getattr(importlib.import_module(module), name)
    except KeyboardInterrupt:
        sys.exit(0)
    entry()


def depth_node() -> None:
    """Run :func:`mono_depth_ros.ros.node.main`."""
    _run('mono_depth_ros.ros.node:main')


def replay() -> None:
    """Run :func:`mono_depth_ros.ros.replay.main`."""
    _run('mono_depth_ros.ros.replay:main')


def demo() -> None:
    """Run :func:`mono_depth_ros.ros.demo.main`."""
    _run('mono_depth_ros.ros.demo:main')


if __name__ == '__main__':
    depth_node()
