"""Every benchmark, one after the other, then one table of every figure (``make bench``).

    .venv/bin/python bench/run.py            # smoke scale: a few minutes, to see that each still runs
    .venv/bin/python bench/run.py --full     # the MSP scale each issue names (an hour or more)
    .venv/bin/python bench/run.py --only rules load

Each script's output goes to ``var/bench/<script>.log``; its closing figure lines (``_report.py``) are collected
here. Run on an otherwise idle machine: the figures are wall times. Exits 1 when a figure fails its goal.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOGS = HERE.parent / "var" / "bench"

# script -> (smoke arguments, full arguments). Full is each script's defaults: the scale its issue names.
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "vspc_sync": (["--runs", "1", "--companies", "50", "--jobs", "500", "--events", "1000"], []),
    "keepit_sync": (
        ["--runs", "1", "--accounts", "10", "--accounts-below-10", "2", "--audit", "1000", "--match", "1000"],
        [],
    ),
    "hub": (["--smoke"], []),
    "tickets": (["--tickets", "20000", "--changed", "100", "--samples", "40"], []),
    "rules": (["--events", "5000", "--tickets", "1000", "--runs", "1"], []),
    "load": (["--users", "1", "5", "--seconds", "5", "--events", "5000", "--tickets", "1000"], []),
    "test_connection": (["--n", "2"], []),
    "query": (["--rows", "20000", "--runs", "10"], []),
    "api": (["--requests", "20"], []),
    "devices": (["--smoke"], []),
    "edr_sync": (["--runs", "1", "--detections", "500"], []),
    "m365": (["--tenants", "20", "--requests", "30", "--customers", "50", "--subscriptions", "500"], []),
    "portal": (["--tickets", "5000", "--mails", "300", "--requests", "40"], []),
}
HEADER = "name "


def figures_of(output: str) -> list[str]:
    """The lines after the last figure table's header."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(HEADER) and line.rstrip().endswith("verdict")]
    return [line for line in lines[starts[-1] + 1 :] if line.strip()] if starts else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the MSP scale (each script's defaults)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), default=list(BENCHES))
    args = parser.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    collected: list[str] = []
    failed = False
    for name in args.only:
        smoke, full = BENCHES[name]
        command = [sys.executable, str(HERE / f"{name}.py"), *(full if args.full else smoke)]
        log = LOGS / f"{name}.log"
        started = time.perf_counter()
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent, check=False)
        log.write_text(done.stdout + done.stderr)
        lines = figures_of(done.stdout)
        print(f"   {time.perf_counter() - started:.0f} s, {len(lines)} figures; output in {log}", flush=True)
        if done.returncode != 0 or not lines:
            failed = True
            collected.append(f"{name:<52} did not finish (exit {done.returncode}): see {log}")
        collected.extend(lines)
        failed = failed or any(line.rstrip().split("  (")[0].endswith("FAIL") for line in lines)
    print()
    print(f"{'name':<52} {'value':>10} {'':<9} {'floor':>14} {'ratio':>6}  {'goal':<14} verdict")
    print("\n".join(collected))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
