"""Every linear region of a 2-input ReLU network in a box: ``regions_in_box`` against a grid.

For two ReLU MLPs with 2 inputs and 2 outputs (2-16-16-2 and 2-64-64-2, the zoo's
``mlp`` seeded 0) in the box [-3, 3]^2 (``docs/piecewise.md``):

- the regions ``regions_in_box`` finds (its default 50x50 grid of starting points,
  then the walk across every region's edges), the rounds of that walk (each one batch
  of probes and of new regions' polytopes), and the total area of their polygons (the
  box's, 36, when they tile it);
- its wall time over several runs, on one torch thread;
- the regions a 200x200 grid visits, for comparison.

Run: ``.venv/bin/python benchmarks/piecewise_regions.py`` (about 30 seconds on one
core). Writes ``benchmarks/results/piecewise_regions.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any
from unittest import mock

import numpy as np
import torch
from _common import machine, timed, write_results

from unboxed import zoo
from unboxed.piecewise import LinearRegions, regions_in_box
from unboxed.piecewise._boundary import _RegionWalk

BOX = (-3.0, 3.0, -3.0, 3.0)
SEED = 0
GRID = 200
#: Hidden widths of each network, and how many times its walk is timed.
NETWORKS = {"2-16-16-2": ((16, 16), 5), "2-64-64-2": ((64, 64), 3)}


def polygon_area(polygon: np.ndarray) -> float:
    """The area of a polygon given by its vertices in order (the shoelace formula)."""
    x, y = polygon.T
    return 0.5 * abs(float(x @ np.roll(y, 1) - y @ np.roll(x, 1)))


def grid_points(n: int) -> np.ndarray:
    """An ``n`` x ``n`` grid over ``BOX``, one row per point."""
    x0, x1, y0, y1 = BOX
    axes = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.stack(axes, -1).reshape(-1, 2)


def walk(regions: LinearRegions) -> tuple[list, int]:
    """``regions_in_box``'s regions of ``BOX``, and the rounds its walk took."""
    crossings = []
    cross = _RegionWalk._cross

    def counted(self: _RegionWalk, stretches: list) -> list:
        crossings.append(len(stretches))
        return cross(self, stretches)

    with mock.patch.object(_RegionWalk, "_cross", counted):
        found = regions_in_box(regions, BOX)
    return found, len(crossings)


def measure(name: str, hidden: tuple[int, ...], repeats: int) -> dict[str, Any]:
    """One network's regions, rounds, area, walk times and grid count."""
    model = zoo.mlp(hidden, "relu", n_features=2, n_classes=2, random_state=SEED)
    regions = LinearRegions(model)
    (found, rounds), _ = timed(lambda: walk(regions))  # a first run, not timed
    seconds = [timed(lambda: regions_in_box(regions, BOX))[1] for _ in range(repeats)]
    return {
        "network": name,
        "regions": len(found),
        "rounds": rounds,
        "area": sum(polygon_area(r.polygon(1e-8)) for r in found),
        "seconds": seconds,
        "grid": GRID,
        "grid_regions": int(regions.regions(grid_points(GRID)).n_regions),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Linear regions of 2-input ReLU networks: regions_in_box against a grid",
        "",
        "Command: `python benchmarks/piecewise_regions.py`. The zoo's ReLU MLPs with 2 "
        f"inputs and 2 outputs, seeded {SEED}, in the box [-3, 3]^2; `regions_in_box` "
        "with its default 50x50 grid of starting points; one torch thread; times are "
        f"the range over the runs. Machine: {result['machine']['cpu']}, torch "
        f"{result['machine']['torch']}. Total wall time {result['seconds']:.0f} s.",
        "",
        f"| network | regions found | rounds of the walk | total area of their polygons "
        f"(box: 36) | time per walk | regions a {GRID}x{GRID} grid visits |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for row in result["rows"]:
        low, high = min(row["seconds"]), max(row["seconds"])
        lines.append(
            f"| {row['network']} | {row['regions']:,} | {row['rounds']} | {row['area']:.6f} | "
            f"{low:.2f}-{high:.2f} s ({len(row['seconds'])} runs) | {row['grid_regions']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    torch.set_num_threads(1)  # the page quotes one thread's times
    start = time.perf_counter()
    rows = [measure(name, hidden, repeats) for name, (hidden, repeats) in NETWORKS.items()]
    result = {"machine": machine(), "rows": rows, "seconds": time.perf_counter() - start}
    text = markdown(result)
    write_results("piecewise_regions", text, result)
    print(text)


if __name__ == "__main__":
    main()
