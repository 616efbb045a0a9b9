#!/bin/sh
# Install the PyPI peers that `python bench/run.py --peers` measures (mockllm, llmock, fakellm)
# into their own venv, bench/.peers by default (or $1), away from mockrouter's dependencies.
set -eu
cd "$(dirname "$0")/.."
venv="${1:-bench/.peers}"
python3 -m venv "$venv"
"$venv/bin/pip" install mockllm llmock fakellm
echo "peers installed in $venv: python bench/run.py --peers --peers-venv $venv"
