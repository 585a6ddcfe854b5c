"""``python -m vectis.simulators.<vendor>``: the command line every simulator shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TypeVar

from flask import Flask
from werkzeug.serving import run_simple

S = TypeVar("S")


def serve_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    default_port: int,
    arguments: Callable[[argparse.ArgumentParser], None],
    build_state: Callable[[argparse.Namespace], S],
    banner: Callable[[S, str], str],
    create_app: Callable[[S], Flask],
) -> int:
    """Parse ``--host``, ``--port``, ``--scale demo|bench``, ``--seed`` and the vendor's own ``arguments``,
    build the state, print the vendor's ``banner(state, root URL)`` and how to reach the fault knobs, and
    serve until stopped."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--scale", choices=["demo", "bench"], default="demo")
    parser.add_argument("--seed", type=int, default=1)
    arguments(parser)
    args = parser.parse_args(argv)

    state = build_state(args)
    root = f"http://{args.host}:{args.port}"
    print(
        f"{banner(state, root)}\n"
        f"  fault knobs: POST {root}/_sim/faults (JSON merge patch), POST {root}/_sim/reset, GET {root}/_sim/stats",
        flush=True,
    )
    run_simple(args.host, args.port, create_app(state), threaded=True)
    return 0
