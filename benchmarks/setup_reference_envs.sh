#!/usr/bin/env bash
# Create the reference venv bench_metrics.py compares against (lifetimes 0.11.3 needs old pins).
# Usage: benchmarks/setup_reference_envs.sh [/work/bench-venvs]
set -euo pipefail
root="${1:-/work/bench-venvs}"
python3.11 -m venv "$root/lifetimes"
"$root/lifetimes/bin/pip" install -q "lifetimes==0.11.3" "pandas<2" "numpy<1.25" "scipy<1.11" autograd dill
"$root/lifetimes/bin/python" -c "import lifetimes; print('lifetimes', lifetimes.__version__)"
