"""The simulator against Erlang C: prints the markdown table of docs/routing.md ("Simulator and Erlang C").

For each (agents, arrivals per hour, AHT) point, runs routing/simulate.py (the code behind `hub simulate`)
several times with different seeds, FCFS on voice, exponential handling, no abandonment: exactly the
M/M/N queue Erlang C describes. Each cell is the mean over the replications with a 95 % confidence
half-width from their spread (t distribution), so a gap to Erlang C can be told from noise.

    .venv/bin/python bench/erlang_table.py                        # the table in docs/routing.md
    .venv/bin/python bench/erlang_table.py --scale 0.05 --replications 3   # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing.erlang import erlang_c_figures
from routing.simulate import SimulationConfig, SimulationResult, simulate

# (agents, arrivals per hour, AHT seconds, simulated hours per replication): light to heavy load, 2 to 100
# agents. The hours are set so that each point measures about a million contacts where the load makes
# waits strongly correlated (near 90 % occupancy a busy spell lasts many handling times), fewer where not.
POINTS: tuple[tuple[int, float, float, float], ...] = (
    (2, 36.0, 100.0, 2000.0),  # 1 Erlang, 50 % occupancy
    (5, 60.0, 240.0, 3000.0),  # 4 Erlangs, 80 %
    (10, 160.0, 180.0, 1000.0),  # 8 Erlangs, 80 %
    (20, 204.0, 300.0, 1500.0),  # 17 Erlangs, 85 %
    (50, 540.0, 300.0, 300.0),  # 45 Erlangs, 90 %
    (100, 1080.0, 300.0, 200.0),  # 90 Erlangs, 90 %
)
# Two-sided 95 % quantiles of Student's t by degrees of freedom (replications - 1).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def run(config: SimulationConfig) -> SimulationResult:
    return simulate(config)


def mean_and_halfwidth(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every point's simulated hours, e.g. 0.05 for a quick look (default 1)")
    parser.add_argument("--replications", type=int, default=5, help="runs per point, seeds 1..R (default 5)")
    parser.add_argument("--threshold", type=float, default=20.0, help="service level threshold, seconds")
    parser.add_argument("--jobs", type=int, default=2, help="processes running replications at once")
    args = parser.parse_args()
    if args.replications < 1 or args.scale <= 0 or args.jobs < 1:
        parser.error("--scale, --replications and --jobs must be positive")

    configs = [SimulationConfig(agents=n, arrival_rate=rate, aht=aht, duration=hours * args.scale,
                                threshold=args.threshold, seed=seed)
               for n, rate, aht, hours in POINTS for seed in range(1, args.replications + 1)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        # The costliest runs first (work grows with contacts times agents), so no process idles at the end.
        order = sorted(range(len(configs)), key=lambda i: -configs[i].arrival_rate * configs[i].duration
                       * (20 + configs[i].agents))
        futures = {i: pool.submit(run, configs[i]) for i in order}
        results = [futures[i].result() for i in range(len(configs))]
    elapsed = time.perf_counter() - started

    t = f"{args.threshold:g} s"
    print(f"| agents | arrivals/h | AHT s | load (Erlangs) | hours | SL {t}: simulated | SL {t}: Erlang C "
          "| ASA s: simulated | ASA s: Erlang C | occupancy: simulated | occupancy: Erlang C |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, (n, rate, aht, hours) in enumerate(POINTS):
        runs = results[i * args.replications:(i + 1) * args.replications]
        erlang = erlang_c_figures(n, rate, aht, args.threshold)
        sl, sl_hw = mean_and_halfwidth([100 * r.service_level for r in runs if r.service_level is not None])
        asa, asa_hw = mean_and_halfwidth([r.asa_seconds for r in runs if r.asa_seconds is not None])
        occ = statistics.fmean(100 * r.occupancy for r in runs)
        print(f"| {n} | {rate:g} | {aht:g} | {erlang.load:.1f} | {args.replications} x {hours * args.scale:g} "
              f"| {sl:.1f} % ± {sl_hw:.1f} "
              f"| {100 * erlang.service_level:.1f} % | {asa:.1f} ± {asa_hw:.1f} | {erlang.asa_seconds:.1f} "
              f"| {occ:.1f} % | {100 * erlang.occupancy:.1f} % |")
    offered = sum(r.offered for r in results)
    print(f"\n{offered} contacts measured in all (the first tenth of each run is warm-up); {elapsed:.0f} s with "
          f"{args.jobs} processes.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
