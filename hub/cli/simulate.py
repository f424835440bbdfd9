"""`hub simulate`: staff a queue on paper. Runs routing/simulate.py (the real routing engine on a virtual
clock) and prints service level, average speed of answer, abandonment and occupancy beside Erlang C.

Needs no database and no Django: `hub.cli.main` hands it its arguments before setting anything up.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from hub.cli.errors import CliError
from routing.core.model import STRATEGIES
from routing.erlang import ErlangC
from routing.simulate import HANDLING, SimulationConfig, SimulationResult, erlang_caveats, erlang_comparison, simulate

HELP = "simulate a queue with the routing engine and compare it with Erlang C (no database needed)"
DESCRIPTION = (
    "Discrete-event simulation of one queue driven by the real routing engine: Poisson arrivals, exponential "
    "(or fixed) handling times, optional customer patience. Prints service level, average speed of answer, "
    "abandonment and occupancy beside Erlang C for the same agents, load and handling time. "
    "docs/routing.md defines each figure.")


class _Parser(argparse.ArgumentParser):
    """Reports a bad flag as one `hub: ...` line with exit code 2 instead of argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        raise CliError(message, exit_code=2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    staffing = parser.add_argument_group("the queue")
    staffing.add_argument("--agents", type=int, required=True, metavar="N", help="agents answering the queue")
    staffing.add_argument("--arrival-rate", type=float, required=True, metavar="PER_HOUR",
                          help="contacts arriving per hour (a Poisson process)")
    staffing.add_argument("--aht", type=float, required=True, metavar="SECONDS", help="average handling time")
    staffing.add_argument("--handling", choices=HANDLING, default="exponential",
                          help="distribution of handling times around the AHT (default: exponential)")
    staffing.add_argument("--patience", type=float, metavar="SECONDS",
                          help="mean time a customer waits before hanging up (exponential); default: forever")
    staffing.add_argument("--channel", default="voice",
                          help="channel of every contact (default: voice, one contact per agent at a time)")
    staffing.add_argument("--capacity", type=int, metavar="K",
                          help="contacts an agent holds at once on the channel (default: the engine's default)")
    staffing.add_argument("--strategy", choices=STRATEGIES, default="longest_idle",
                          help="how the queue picks among free agents (default: longest_idle)")
    run = parser.add_argument_group("the run")
    run.add_argument("--duration", type=float, default=100.0, metavar="HOURS",
                     help="simulated hours (default: 100)")
    run.add_argument("--warmup", type=float, metavar="HOURS",
                     help="first hours left out of the figures (default: a tenth of the duration)")
    run.add_argument("--threshold", type=float, default=20.0, metavar="SECONDS",
                     help="service level target: answered within this many seconds (default: 20)")
    run.add_argument("--seed", type=int, default=1, metavar="K", help="random seed; a seed gives one exact run")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hub simulate", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def config_from(args: argparse.Namespace) -> SimulationConfig:
    config = SimulationConfig(
        agents=args.agents, arrival_rate=args.arrival_rate, aht=args.aht, duration=args.duration,
        threshold=args.threshold, seed=args.seed, patience=args.patience, warmup=args.warmup,
        handling=args.handling, channel=args.channel, strategy=args.strategy, capacity=args.capacity)
    try:
        config.validate()
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    return config


def main(argv: Sequence[str]) -> int:
    """`hub simulate ARGS`: 0 after printing the figures, 2 for a bad flag."""
    try:
        args = build_parser().parse_args(list(argv))
        config = config_from(args)
        result = simulate(config)
    except CliError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return 130
    reference = erlang_comparison(config)
    if args.json:
        print(json.dumps(report(config, result, reference), indent=2))
    else:
        print_table(config, result, reference)
    return 0


def report(config: SimulationConfig, result: SimulationResult, reference: ErlangC | None) -> dict[str, object]:
    """The JSON document: the settings, the simulated figures, Erlang C (null when unstable) and why it
    may differ."""
    settings = {
        "agents": config.agents, "arrival_rate_per_hour": config.arrival_rate, "aht_seconds": config.aht,
        "load_erlangs": config.load, "handling": config.handling, "patience_seconds": config.patience,
        "channel": config.channel, "capacity": config.slots_per_agent, "strategy": config.strategy,
        "duration_hours": config.duration, "warmup_hours": config.warmup_hours,
        "threshold_seconds": config.threshold, "seed": config.seed,
    }
    return {"settings": settings, "simulated": result.as_dict(),
            "erlang_c": reference.as_dict() if reference is not None else None,
            "erlang_c_caveats": erlang_caveats(config)}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def print_table(config: SimulationConfig, result: SimulationResult, reference: ErlangC | None) -> None:
    from rich.console import Console
    from rich.table import Table

    slots = f" x {config.slots_per_agent}" if config.slots_per_agent > 1 else ""
    patience = f", patience {config.patience:g} s" if config.patience is not None else ""
    title = (f"{config.agents} agents{slots}, {config.arrival_rate:g}/h, AHT {config.aht:g} s "
             f"({config.load:.2f} Erlangs, {config.handling}{patience}), {config.channel}, "
             f"{result.measured_hours:g} h measured after {config.warmup_hours:g} h warm-up, seed {config.seed}")
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    table.add_column("simulated", justify="right")
    table.add_column("Erlang C", justify="right")
    ref = reference
    rows = [
        ("offered", str(result.offered), ""),
        ("answered", str(result.answered), ""),
        ("abandoned", str(result.abandoned), ""),
        (f"service level ({config.threshold:g} s)", _percent(result.service_level),
         _percent(ref.service_level if ref else None)),
        ("average speed of answer", _seconds(result.asa_seconds), _seconds(ref.asa_seconds if ref else None)),
        ("waited at all", _percent(result.waited), _percent(ref.probability_of_waiting if ref else None)),
        ("abandonment", _percent(result.abandonment_rate), ""),
        ("occupancy", _percent(result.occupancy), _percent(ref.occupancy if ref else None)),
        ("max wait", _seconds(result.max_wait_seconds), ""),
    ]
    for row in rows:
        table.add_row(*row)
    console = Console(file=sys.stdout, width=max(100, Console().width), soft_wrap=True, highlight=False)
    console.print(table)
    for caveat in erlang_caveats(config):
        console.print(f"Erlang C: {caveat}.")
