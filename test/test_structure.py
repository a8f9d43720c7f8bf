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

"""The package's architecture, checked from the source: layers, sizes, module docstrings.

Read with ``ast`` (nothing is imported), so a violation names the file and line.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
ROOT_PACKAGE = 'mono_depth_ros (root)'

# What each layer may import from the project (its own modules always). Offline training
# is the package mono_depth_ros_training (the repository's training/ folder).
ALLOWED = {
    'mono_depth_ros.core': set(),
    'mono_depth_ros.weights': set(),
    'mono_depth_ros.data': {'mono_depth_ros.core'},
    'mono_depth_ros.evaluation': {'mono_depth_ros.core'},
    'mono_depth_ros.sim': {'mono_depth_ros.core', 'mono_depth_ros.data'},
    'mono_depth_ros.runtime': {'mono_depth_ros.core', 'mono_depth_ros.weights'},
    'mono_depth_ros.ros': {'mono_depth_ros.core', 'mono_depth_ros.data',
                           'mono_depth_ros.evaluation', 'mono_depth_ros.sim',
                           'mono_depth_ros.runtime', 'mono_depth_ros.weights'},
    'mono_depth_ros_training': {'mono_depth_ros.core', 'mono_depth_ros.data',
                                'mono_depth_ros.evaluation', 'mono_depth_ros.sim'},
}


def _modules():
    """``(path, dotted layer)`` of every library source file."""
    for path in sorted((ROOT / 'mono_depth_ros').rglob('*.py')):
        parts = path.relative_to(ROOT).with_suffix('').parts
        if len(parts) == 2:  # mono_depth_ros/__init__.py
            continue
        yield path, '.'.join(parts[:2])
    for path in sorted((ROOT / 'training').rglob('*.py')):
        yield path, 'mono_depth_ros_training'


def _project_imports(tree: ast.AST):
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            if name.split('.')[0] in ('mono_depth_ros', 'mono_depth_ros_training',
                                      'training', 'benchmarks', 'test'):
                yield node.lineno, name


def _layer_of(name: str) -> str:
    """Return the layer of an imported name (the root package, for its version, is shared)."""
    parts = name.split('.')
    if parts == ['mono_depth_ros']:
        return ROOT_PACKAGE
    return parts[0] if parts[0] != 'mono_depth_ros' else '.'.join(parts[:2])


@pytest.mark.parametrize('path,layer', list(_modules()),
                         ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else v)
def test_imports_go_down_the_layers_only(path, layer):
    tree = ast.parse(path.read_text())
    allowed = ALLOWED[layer] | {layer, ROOT_PACKAGE}
    bad = [f'{path.relative_to(ROOT)}:{line} imports {name}'
           for line, name in _project_imports(tree) if _layer_of(name) not in allowed]
    assert not bad, '\n'.join(bad)


def _sources():
    for folder in ('mono_depth_ros', 'training', 'test', 'benchmarks', 'launch'):
        yield from sorted((ROOT / folder).rglob('*.py'))


def test_files_and_functions_stay_small():
    long = []
    for path in _sources():
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            long.append(f'{path.relative_to(ROOT)}: {len(text.splitlines())} lines')
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f'{path.relative_to(ROOT)}:{node.lineno} {node.name}: '
                                f'{size} lines')
    assert not long, '\n'.join(long)


def test_every_library_module_says_what_it_is_for_and_what_it_may_import():
    missing = [str(path.relative_to(ROOT)) for path, _ in _modules()
               if 'May import:' not in (ast.get_docstring(ast.parse(path.read_text())) or '')]
    assert not missing, missing


def test_no_sys_path_manipulation():
    hacks = [str(path.relative_to(ROOT)) for path in _sources()
             if 'sys.path.insert' in path.read_text() or 'sys.path.append' in path.read_text()]
    hacks = [h for h in hacks if h != 'test/test_structure.py']
    assert not hacks, hacks


def test_the_checker_sees_a_violation(tmp_path):
    """The layer rule is live: an upward import in a core-like module is reported."""
    tree = ast.parse('from mono_depth_ros.ros.node import DepthNode\nimport numpy\n')
    found = [name for _, name in _project_imports(tree)]
    assert found == ['mono_depth_ros.ros.node']
    assert _layer_of(found[0]) not in ALLOWED['mono_depth_ros.core']
