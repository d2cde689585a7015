#!/usr/bin/env bash
# Install the training side (LLaMA-Factory 0.9.5) on a CPU-only machine, into the active Python.
#
#   . .venv/bin/activate && bash nl2sql_fine_tuning/install_train_cpu.sh
#
# Idempotent: pip skips what is already there; the torchvision/torchaudio fixes are re-checked.
# Why each step (measured on a CPU-only, offline machine, see docs):
#  1. torch==2.13.0 first: the CPU wheel (PyTorch's CPU index or a local wheel folder via pip's
#     find-links). Everything after runs under a constraints file pinning torch, because
#     `pip install llamafactory` alone upgrades torch to a CUDA build and pulls ~16 nvidia packages.
#  2. llamafactory with --no-deps, then only what its text path (train/predict/export/api) needs:
#     skips gradio and friends (1.5 GB venv instead of 2.2 GB).
#  3. torchaudio: llamafactory/data/mm_plugin.py imports it, but PyPI only has CUDA builds here whose
#     native libs link libc10_cuda.so; with CPU torch they fail to load. Removing its lib/*.so
#     makes it import as pure Python (the text path never calls it).
#  4. torchvision: a CUDA build breaks every llamafactory-cli call ("operator torchvision::nms does
#     not exist"); the text path does not need it, so it is removed if present.
# On a GPU machine use the normal install instead: pip install "nl2sql-factory[train]".
set -euo pipefail

PY="${PYTHON:-python}"
TORCH_VERSION="2.13.0"
LLAMAFACTORY_VERSION="0.9.5"
TORCHAUDIO_VERSION="2.11.0"

say() { printf '== install_train_cpu: %s\n' "$*"; }

constraints="$(mktemp -t torch-constraints.XXXXXX.txt)"
trap 'rm -f "$constraints"' EXIT
echo "torch==${TORCH_VERSION}" >"$constraints"

say "python: $($PY -c 'import sys; print(sys.executable)')"

say "step 1/4: torch==${TORCH_VERSION} (CPU wheel)"
if $PY -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '${TORCH_VERSION}' and torch.version.cuda is None else 1)" 2>/dev/null; then
  say "  torch ${TORCH_VERSION} (cpu) already installed"
else
  # pip's configured sources must offer the CPU wheel: a local wheel folder (find-links) or
  # TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu on a machine that can reach it.
  $PY -m pip install "torch==${TORCH_VERSION}" ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"}
fi

say "step 2/4: llamafactory==${LLAMAFACTORY_VERSION} --no-deps + its text-path needs (constrained: torch==${TORCH_VERSION})"
$PY -m pip install -c "$constraints" --no-deps "llamafactory==${LLAMAFACTORY_VERSION}" "torchaudio==${TORCHAUDIO_VERSION}"
# The bounds are llamafactory 0.9.5's own (pip does not apply them under --no-deps).
$PY -m pip install -c "$constraints" \
  "transformers>=4.55.0,<=5.6.0,!=4.57.0" "datasets>=2.16.0,<=4.0.0" \
  "accelerate>=1.3.0,<=1.11.0" "peft>=0.18.0,<=0.18.1" "trl>=0.18.0,<=0.24.0" \
  omegaconf pyyaml numpy pandas safetensors sentencepiece tiktoken protobuf packaging \
  fastapi sse-starlette uvicorn pydantic \
  jieba nltk rouge-chinese \
  tokenizers "openai>=1.40,<4" "gguf>=0.19"

say "step 3/4: torchaudio as pure Python (drop its CUDA-linked native libs)"
ta_dir="$($PY -c 'import importlib.util as u, os; s = u.find_spec("torchaudio"); print(os.path.dirname(s.origin) if s else "")')"
if [ -n "$ta_dir" ] && compgen -G "$ta_dir/lib/*.so" >/dev/null; then
  say "  removing $ta_dir/lib/*.so"
  rm -f "$ta_dir"/lib/*.so
else
  say "  nothing to remove"
fi

say "step 4/4: torchvision (CUDA build breaks llamafactory-cli on CPU torch)"
if $PY -m pip show -q torchvision >/dev/null 2>&1; then
  $PY -m pip uninstall -y torchvision
else
  say "  not installed"
fi

say "check"
$PY -m pip check || say "  (pip check reports the deliberately skipped llamafactory extras above)"
DISABLE_VERSION_CHECK=1 CUDA_VISIBLE_DEVICES="" HF_HUB_OFFLINE=1 llamafactory-cli version
$PY -c "import torch, llamafactory; assert torch.version.cuda is None, torch.version.cuda; print('torch', torch.__version__, 'llamafactory', llamafactory.__version__)"
say "done"
