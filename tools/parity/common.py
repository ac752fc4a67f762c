"""Shared helpers for the parity generator: built-in tiny configs, determinism, case writing.

A bf16 case (`generate.py --dtype bf16`) is built by the same component code with the same seed as its f32
base case, so it has the same weights and inputs: while `reuse_base` is active, `save_checkpoint` and the
inputs of `write_case` are checked byte for byte against the base case's files instead of being written, and
`case.json` points at them (`weights_from`, `inputs_from`). Only `case.json` and `expected.safetensors` (in
the reference's dtype) are written.
"""

import contextlib
import json
import math
import pathlib
import random

import numpy as np
import torch
from safetensors.torch import load_file, save, save_file

# The base case directory while a bf16 case is built (see the module docstring), else None.
_BASE: pathlib.Path | None = None


@contextlib.contextmanager
def reuse_base(base: pathlib.Path):
    """Build a bf16 case on top of the f32 case in `base` (which must exist, written by this generator)."""
    global _BASE
    if not (base / "case.json").exists():
        raise SystemExit(f"{base} is missing: generate the f32 case first (same --config, --seed, --out)")
    _BASE = base
    try:
        yield
    finally:
        _BASE = None


def bf16_case() -> bool:
    """True while a bf16 case is built."""
    return _BASE is not None


def _same_as_base(name: str, data: bytes) -> None:
    path = _BASE / name
    if not path.exists() or path.read_bytes() != data:
        raise SystemExit(
            f"{path} differs from what this generator writes for it: regenerate the f32 base case first"
        )

# Sections are owned by the component modules that read them; each module documents its keys.
# `tiny` and `tiny2` differ in width, head count and layer count (issue: two built-in tiny configs).
BUILTIN_CONFIGS = {
    "tiny": {"name": "tiny"},
    "tiny2": {"name": "tiny2"},
}


def check_pins() -> None:
    """Refuse to run with other versions than `requirements.txt` pins: the same command must rewrite the
    committed cases byte for byte."""
    import importlib.metadata
    import os

    wrong = []
    for line in (pathlib.Path(__file__).parent / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" not in line:
            continue
        name, want = line.split("==")
        try:
            got = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            got = "not installed"
        if got.split("+")[0] != want:
            wrong.append(f"{name} {got} (pinned {want})")
    if not wrong:
        return
    message = "tools/parity/requirements.txt pins other versions: " + ", ".join(wrong)
    if os.environ.get("PARITY_ALLOW_OTHER_VERSIONS") == "1":
        print(f"warning: {message}; the cases may not match the committed ones")
        return
    raise SystemExit(message + " (PARITY_ALLOW_OTHER_VERSIONS=1 runs anyway)")


def set_determinism(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def metric(got: torch.Tensor, want: torch.Tensor) -> float:
    """The parity metric, max|a - b| / max(1, max|ref|) (inf when anything is not finite)."""
    a, b = got.double(), want.double()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return math.inf
    return ((a - b).abs().max() / max(1.0, b.abs().max().item())).item()


def _bf16_vs_f32(expected: dict) -> dict:
    """Per output of a bf16 case: the bf16 reference's own error against the f32 reference (the base case)."""
    base = load_file(str(_BASE / "expected.safetensors"))
    missing = sorted(set(expected) - set(base))
    if missing:
        raise SystemExit(f"{_BASE} has no expected {missing}")
    return {k: metric(v, base[k]) for k, v in expected.items()}


def bf16_tolerance(reference_error: float) -> float:
    """Two bf16 computations of the same function each land within about `reference_error` (the bf16
    reference against the f32 one) of the exact result, in different directions: allow three times that,
    rounded up to one significant digit, and never less than the f32 parity tolerance 1e-5."""
    if reference_error == 0.0:
        return 1e-5
    tol = 3.0 * reference_error
    exponent = math.floor(math.log10(tol))
    digit = math.ceil(tol / 10.0**exponent - 1e-9)
    return max(float(f"{digit}e{exponent}"), 1e-5)


def _contiguous(tensors: dict) -> dict:
    return {k: v.detach().to(torch.float32 if v.is_floating_point() else v.dtype).contiguous() for k, v in tensors.items()}


def save_checkpoint(path: pathlib.Path, state_dict: dict, config: dict | None = None) -> None:
    """Save weights under their real checkpoint key names, with the `config` metadata string."""
    metadata = {"config": json.dumps(config)} if config is not None else None
    tensors = {k: v.detach().contiguous() for k, v in state_dict.items()}
    if _BASE is not None:
        _same_as_base(path.name, save(tensors, metadata=metadata))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


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
    bf16_fixed: dict | None = None,
) -> None:
    """Write `case.json`, `inputs.safetensors` and `expected.safetensors` into `out`.

    Weights are written separately with `save_checkpoint` (real file names go into `extra`). For a bf16 case
    the inputs must equal the base case's, the expected tensors keep the reference's dtype, and each output's
    tolerance is measured (`bf16_tolerance`) unless `bf16_fixed` gives it.
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
    if _BASE is not None:
        meta["dtype"] = "bf16"
        measured = _bf16_vs_f32(expected)
        meta["tolerance"] = max(bf16_tolerance(r) for r in measured.values())
        meta["tolerances"] = {k: (bf16_fixed or {}).get(k, bf16_tolerance(r)) for k, r in sorted(measured.items())}
        meta["extra"] = {**meta["extra"], "reference_bf16_vs_f32": {k: float(f"{r:.3e}") for k, r in sorted(measured.items())}}
        if inputs:
            _same_as_base("inputs.safetensors", save(_contiguous(inputs)))
            meta["inputs_from"] = f"../{_BASE.name}"
        meta["weights_from"] = f"../{_BASE.name}"
        expected = {k: v.detach().contiguous() for k, v in expected.items()}
    else:
        if inputs:
            save_file(_contiguous(inputs), str(out / "inputs.safetensors"))
        expected = _contiguous(expected)
    (out / "case.json").write_text(json.dumps(meta, indent=2) + "\n")
    save_file(expected, str(out / "expected.safetensors"))
