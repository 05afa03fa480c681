"""`organizer bench NAME`: every module in this package with `add_arguments(parser)` and `run(args)` is a
benchmark. Each prints our figure, the limit or peer measured in the same run, and the ratio."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import organizer_pipeline.bench as package


def benchmarks() -> dict[str, object]:
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in ("cli", "common"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "run") and hasattr(module, "add_arguments"):
            found[info.name] = module
    return found


def cmd_all(args: argparse.Namespace) -> int:
    status = 0
    for name, module in benchmarks().items():
        print(f"== bench {name}")
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        status |= module.run(parser.parse_args([])) or 0
    return status


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks (each prints our figure, the limit and the ratio)")
    which = bench.add_subparsers(dest="bench_name", required=True, metavar="BENCHMARK")
    which.add_parser("all", help="run every benchmark with its defaults").set_defaults(func=cmd_all)
    for name, module in benchmarks().items():
        parser = which.add_parser(
            name, help=(module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None
        )
        module.add_arguments(parser)
        parser.set_defaults(func=module.run)
