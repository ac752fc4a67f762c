#!/usr/bin/env python3
"""Join the `ROW {json}` lines of bench_gpu (candle) and bench_torch.py (PyTorch) into one table.

    python tools/gpu/report.py ROWS_FILE [--title TEXT]

Rows pair by (stage, what). Extrapolated rows and notes are carried over; a stage that failed on one side
shows its error. Exits 1 when any row carries an error or a time is not finite.
"""

import argparse
import json
import math


def fmt_ms(ms):
    if ms is None or not math.isfinite(ms):
        return "-"
    return f"{ms / 1e3:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def fmt_mib(row):
    if row is None or row.get("peak_mib") is None or not math.isfinite(row["peak_mib"]):
        return "-"
    return f"{row['peak_mib']:.0f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rows")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    order, table, errors = [], {}, []
    for line in open(args.rows, encoding="utf-8"):
        if not line.startswith("ROW "):
            continue
        row = json.loads(line[4:])
        if "error" in row:
            errors.append(f"{row['impl']} {row['stage']}: {row['error'].splitlines()[0]}")
            continue
        key = (row["stage"], row["what"])
        if key not in table:
            order.append(key)
            table[key] = {}
        table[key][row["impl"]] = row
    if args.title:
        print(args.title)
        print()
    devices = sorted({r["device"] for v in table.values() for r in v.values()})
    memory = sorted({r["memory"] for v in table.values() for r in v.values()})
    print(f"devices: {', '.join(devices)}; peak memory: {', '.join(memory)} MiB "
          "(device: above the state before the stage, candle from the driver, PyTorch its allocator's reserve)")
    print()
    print("| stage | what | candle | PyTorch | candle / PyTorch | candle peak MiB | PyTorch peak MiB | note |")
    print("|---|---|---|---|---|---|---|---|")
    bad = bool(errors)
    for key in order:
        c, t = table[key].get("candle"), table[key].get("torch")
        cm, tm = (c or {}).get("ms"), (t or {}).get("ms")
        ratio = f"{cm / tm:.2f}x" if cm and tm and math.isfinite(cm) and math.isfinite(tm) and tm > 0 else "-"
        notes = sorted({r["note"] for r in (c, t) if r and r.get("note")})
        for value in (cm, tm):
            if value is not None and not math.isfinite(value):
                bad = True
        print(f"| {key[0]} | {key[1]} | {fmt_ms(cm)} | {fmt_ms(tm)} | {ratio} | {fmt_mib(c)} | {fmt_mib(t)} | "
              f"{'; '.join(notes)} |")
    if errors:
        print()
        print("errors:")
        for e in errors:
            print(f"- {e}")
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
