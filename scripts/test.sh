#!/usr/bin/env bash
# The whole test suite (unit, numerical-reference, structure and ament linter tests).
# Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$root/.venv/bin/python" -m pytest -ra "$@"
