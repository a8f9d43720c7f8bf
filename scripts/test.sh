#!/usr/bin/env bash
# The whole test suite (unit, numerical-reference and ament linter tests).
# Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
# Keep concurrent ROS test runs on one machine apart (used by the node tests).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
# A domain of its own, so parallel runs on one machine do not hear each other.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
exec "$root/.venv/bin/python" -m pytest -ra "$@"
