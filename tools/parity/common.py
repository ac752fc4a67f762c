"""Shared helpers for the parity generator: built-in tiny configs, determinism, case writing."""

import json
import pathlib
import random

import numpy as np
import torch
from safetensors.torch import save_file

# Sections are owned by the component modules that read them; each module documents its keys.
# `tiny` and `tiny2` differ in width, head count and layer count (issue: two built-in tiny configs).
BUILTIN_CONFIGS = {
    "tiny": {"name": "tiny"},
    "tiny2": {"name": "tiny2"},
}


def set_determinism(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def _contiguous(tensors: dict) -> dict:
    return {k: v.detach().to(torch.float32 if v.is_floating_point() else v.dtype).contiguous() for k, v in tensors.items()}


def save_checkpoint(path: pathlib.Path, state_dict: dict, config: dict | None = None) -> None:
    """Save weights under their real checkpoint key names, with the `config` metadata string."""
    metadata = {"config": json.dumps(config)} if config is not None else None
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in state_dict.items()}, str(path), metadata=metadata)


def write_case(
    out: pathlib.Path,
    component: str,
    *,
    config: dict,
    seed: int,
    inputs: dict,
    expected: dict,
    tolerance: float,
    tolerances: dict | None = None,
    extra: dict | None = None,
) -> None:
    """Write `case.json`, `inputs.safetensors` and `expected.safetensors` into `out`.

    Weights are written separately with `save_checkpoint` (real file names go into `extra`).
    """
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "component": component,
        "config": config,
        "seed": seed,
        "tolerance": tolerance,
        "tolerances": tolerances or {},
        "extra": extra or {},
        "metric": "max|a-b| / max(1, max|ref|)",
        "generator": "tools/parity/generate.py",
        "torch": torch.__version__,
    }
    (out / "case.json").write_text(json.dumps(meta, indent=2) + "\n")
    if inputs:
        save_file(_contiguous(inputs), str(out / "inputs.safetensors"))
    save_file(_contiguous(expected), str(out / "expected.safetensors"))
