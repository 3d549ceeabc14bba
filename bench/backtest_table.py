"""Regenerate the backtest table of docs/models.md: twolvlImp with and without `history` against the
two baselines, on target/year pairs across economy, health, education and environment.

Each pair is one `service.backtest` call (5 folds, history=true), which also scores the same
request without history and both baselines on the same folds. Prints a markdown table; `--write`
replaces the table between the markers in docs/models.md. Times are seconds and machine units
(seconds / calibrate.py's figure, measured in the same run). Run from the repo root:
`python bench/backtest_table.py [--write]` (about 12 machine units of backtests: one to three
minutes on two busy cores).
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common.settings import DEFAULT_DATASET_PATH  # noqa: E402
from models.twolvlImp import service  # noqa: E402
from models.twolvlImp.schemas import AFS_EXAMPLE, SIMPLE_EXAMPLE, BacktestRequest  # noqa: E402
from shared_dataloader import load_indicator_dataset  # noqa: E402

CALIBRATE = REPO.parent / "shared" / "bench" / "calibrate.py"
DOC = REPO / "docs" / "models.md"
BEGIN, END = "<!-- backtest-table:begin -->", "<!-- backtest-table:end -->"
PAIRS = [  # (area, target, year)
    ("environment", "wdi-EG.ELC.ACCS.ZS", "2001"),
    ("economy", "wdi-NY.GDP.MKTP.KD.ZG", "2010"),
    ("education", "wdi-SE.PRM.ENRR", "2010"),
    ("health", "wdi-SH.DYN.MORT", "2010"),
    ("health", "wdi-SP.DYN.LE00.IN", "2005"),
    ("health", "wdi-SH.IMM.MEAS", "2012"),
    ("education", "wdi-SE.SEC.ENRR", "2005"),
    ("economy", "wdi-NY.GDP.PCAP.CD", "2015"),
    ("economy", "wdi-SL.UEM.TOTL.ZS", "2015"),
    ("environment", "wdi-EN.ATM.CO2E.PC", "2012"),
    ("environment", "wdi-AG.LND.FRST.ZS", "2015"),
    ("environment", "wdi-EG.FEC.RNEW.ZS", "2010"),
]
MANUAL = {**SIMPLE_EXAMPLE, "dataset": "wdi"}
"""Two-level MANUAL with one predictor (wdi-AG.LND.AGRI.ZS), KNN, rfr, 10 trees, as the replaced system's table."""


def calibrate() -> float:
    return float(subprocess.run([sys.executable, str(CALIBRATE)], capture_output=True, text=True,
                                check=True).stdout)


def measure(dataset, request: dict) -> tuple[dict, float, float]:
    """Scores, median weight of the own series over the hidden countries, and seconds."""
    body = BacktestRequest(**request, history=True, folds=5)
    started = time.perf_counter()
    result = service.backtest(body, dataset).model_dump()
    seconds = time.perf_counter() - started
    weight = statistics.median(row["temporal_weight"] for row in result["countries"])
    return result["scores"], weight, seconds


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(unit: float) -> str:
    dataset = load_indicator_dataset(DEFAULT_DATASET_PATH)
    lines = ["| area | target, year | SIDS | two-level MANUAL | two-level + history | cross-country mean "
             "| own series, linear | history vs better baseline | 90 % coverage (history) "
             "| median weight of own series | time (units) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    covered = total = worse = outside = 0
    runs = [(area, target, year, "MANUAL", {**MANUAL, "target": target, "target_year": year})
            for area, target, year in PAIRS]
    first = PAIRS[0]
    runs.insert(1, (first[0], first[1], first[2], "AFS", {**AFS_EXAMPLE, "target": first[1],
                                                         "target_year": first[2]}))
    for area, target, year, scheme, request in runs:
        scores, weight, seconds = measure(dataset, request)
        model, cross = scores["model"], scores["cross_sectional"]
        covered += round(model["coverage"] * model["count"])
        total += model["count"]
        best = min(scores["cross_country_mean"]["mae"], scores["own_series_linear"]["mae"])
        versus = f"{100 * (model['mae'] / best - 1):+.1f} %" if best else "—"
        worse += model["mae"] > best
        outside += not 0.85 <= model["coverage"] <= 0.95
        label = "two-level AFS (10 preds, 100 trees)" if scheme == "AFS" else ""
        lines.append(f"| {area} | {target} {year}{' — ' + label if label else ''} | {model['count']} "
                     f"| {fmt(cross['mae'])} | **{fmt(model['mae'])}** | {fmt(scores['cross_country_mean']['mae'])} "
                     f"| {fmt(scores['own_series_linear']['mae'])} | {versus} "
                     f"| {fmt(100 * model['coverage'], 0)} % | {weight:.3f} | {seconds / unit:.2f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    lines.append(f"\nAll hidden truths: {covered}/{total} = {100 * covered / total:.1f} % inside the 90 % "
                 f"intervals of the history model; rows with coverage outside 85–95 %: {outside} of "
                 f"{len(runs)}; rows where history has a higher MAE than the better baseline: {worse} of {len(runs)}. "
                 f"Machine unit: {unit:.2f} s (calibrate.py).")
    return "\n".join(lines)


def write(markdown: str) -> None:
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + markdown + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update the table in docs/models.md")
    args = parser.parse_args()
    unit = calibrate()
    markdown = table(unit)
    print(markdown)
    if args.write:
        write(markdown)


if __name__ == "__main__":
    main()
