#!/usr/bin/env python3
"""Write parity cases: tiny random reference modules, their inputs and their outputs.

    python tools/parity/generate.py --seed 0 --config tiny --out tests/fixtures/parity [--only NAME ...]
    python tools/parity/generate.py --seed 0 --config tiny --out tests/fixtures/parity --dtype bf16 --only NAME ...

Each component lives in `components/<module>.py`, which exposes
`COMPONENTS = {"name": build_fn}` with `build_fn(config: dict, seed: int, out: pathlib.Path) -> None`.
A build function writes one self-describing case directory (see `common.write_case`).
`--config` picks a built-in tiny config (`tiny`, `tiny2`) or a JSON file with the same sections.

`--dtype bf16` writes `<name>-<config>-s<seed>-bf16`: the reference runs in bf16 on the weights and inputs
of the f32 case `<name>-<config>-s<seed>` in the same `--out` (which must exist); a component with a bf16
case takes `build_fn(config, seed, out, dtype="bf16")` (see `common.reuse_base`).
"""

import argparse
import importlib
import inspect
import json
import pathlib
import pkgutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
import components  # noqa: E402


def discover():
    found = {}
    for info in pkgutil.iter_modules(components.__path__):
        module = importlib.import_module(f"components.{info.name}")
        for name, fn in getattr(module, "COMPONENTS", {}).items():
            if name in found:
                raise SystemExit(f"component {name} defined twice")
            found[name] = fn
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="tiny", help="tiny | tiny2 | FILE.json")
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--only", nargs="*", help="component names to generate (default: all)")
    parser.add_argument("--dtype", choices=["f32", "bf16"], default="f32", help="the reference's dtype")
    parser.add_argument("--list", action="store_true", help="list components and exit")
    args = parser.parse_args()

    registry = discover()
    if args.list:
        print("\n".join(sorted(registry)))
        return
    if args.config in common.BUILTIN_CONFIGS:
        config_name, config = args.config, common.BUILTIN_CONFIGS[args.config]
    else:
        path = pathlib.Path(args.config)
        config_name, config = path.stem, json.loads(path.read_text())

    common.check_pins()
    names = args.only or sorted(registry)
    for name in names:
        if name not in registry:
            raise SystemExit(f"unknown component {name}; known: {', '.join(sorted(registry))}")
        case_dir = args.out / f"{name}-{config_name}-s{args.seed}"
        common.set_determinism(args.seed)
        if args.dtype == "f32":
            registry[name](config, args.seed, case_dir)
        else:
            base, case_dir = case_dir, case_dir.with_name(case_dir.name + "-bf16")
            if "dtype" not in inspect.signature(registry[name]).parameters:
                raise SystemExit(f"component {name} has no bf16 case")
            with common.reuse_base(base):
                registry[name](config, args.seed, case_dir, dtype="bf16")
        print(f"wrote {case_dir}")


if __name__ == "__main__":
    main()
