#!/usr/bin/env bash
# The whole fine-tuning chain on CPU with a tiny local model, printing each step's time:
# data_create -> tiny Qwen3 -> LoRA train -> predict -> merge -> API query (127.0.0.1).
#
#   bash examples/tiny_end_to_end.sh [WORKDIR]      (default runs/tiny_end_to_end)
#
# Needs the training extra: bash nl2sql_fine_tuning/install_train_cpu.sh (CPU machines).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m nl2sql_fine_tuning.smoke --workdir "${1:-runs/tiny_end_to_end}"
