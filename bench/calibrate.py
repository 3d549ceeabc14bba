"""Machine-speed yardstick: seconds to fit a fixed random forest (210 × 379 normal features, 100
trees, one thread), the median of 3 runs. Bench scripts divide timings by this figure ("machine
units") so that figures measured on different machines, or the same machine under different load,
can be compared. The workload is `common.machine_speed.fixed_workload`, the one the service also
measures in the background to scale its estimates. Run from the repo root: `python bench/calibrate.py`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.machine_speed import machine_unit


def main() -> None:
    print(f"{machine_unit():.3f}")


if __name__ == "__main__":
    main()
