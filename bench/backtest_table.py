"""Regenerate the backtest table of docs/models.md: twolvlImp with and without `history` against the
two baselines, on target/year pairs across economy, health, education and environment.

`--pairs development` runs the 24 other pairs the history model was designed on instead (no AFS row;
`--write` fills the second table of docs/models.md): a change to the model is judged there first,
and the main table is a check, not a target to tune on.

Each pair is one `service.backtest` call (5 folds, history=true), which also scores the same
request without history and both baselines on the same folds. Prints a markdown table; `--write`
replaces the table between the markers in docs/models.md. Times are seconds and machine units
(seconds / calibrate.py's figure, measured in the same run). Run from the repo root:
`python bench/backtest_table.py [--write]` (about 12 machine units of backtests: two to five
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

CALIBRATE = REPO / "bench" / "calibrate.py"
DOC = REPO / "docs" / "models.md"
MARKERS = {"table": "backtest-table", "development": "development-table"}
"""`--write` replaces the text between <!-- NAME:begin --> and <!-- NAME:end --> in docs/models.md."""
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
DEVELOPMENT_PAIRS = [
    ("demography", "wdi-SP.POP.TOTL", "2008"),
    ("demography", "wdi-SP.DYN.TFRT.IN", "2005"),
    ("economy", "wdi-FP.CPI.TOTL.ZG", "2008"),
    ("economy", "wdi-NE.IMP.GNFS.ZS", "2012"),
    ("economy", "wdi-NV.AGR.TOTL.ZS", "2010"),
    ("economy", "wdi-IT.CEL.SETS.P2", "2008"),
    ("health", "wdi-SH.STA.MMRT", "2012"),
    ("health", "wdi-SH.DYN.NMRT", "2005"),
    ("education", "wdi-SE.PRM.CMPT.ZS", "2010"),
    ("demography", "wdi-SP.URB.TOTL.IN.ZS", "2012"),
    ("economy", "wdi-NY.GDP.PCAP.KD.ZG", "2012"),
    ("economy", "wdi-NY.GDP.DEFL.KD.ZG", "2010"),
    ("economy", "wdi-NY.GNP.PCAP.CD", "2010"),
    ("economy", "wdi-NY.GDP.MKTP.CD", "2012"),
    ("economy", "wdi-BX.TRF.PWKR.CD.DT", "2010"),
    ("economy", "wdi-NV.IND.TOTL.ZS", "2015"),
    ("economy", "wdi-NE.EXP.GNFS.ZS", "2008"),
    ("economy", "wdi-DT.ODA.ODAT.GN.ZS", "2010"),
    ("demography", "wdi-SP.POP.GROW", "2015"),
    ("economy", "wdi-NY.GDP.PCAP.PP.CD", "2012"),
    ("economy", "wdi-NY.GDP.MKTP.KD.ZG", "2005"),
    ("economy", "wdi-NY.GDP.PCAP.CD", "2005"),
    ("economy", "wdi-NE.GDI.TOTL.ZS", "2010"),
    ("health", "wdi-SP.DYN.IMRT.IN", "2008"),
]
"""Where the history model was designed: none of these target/year pairs is in PAIRS."""
MANUAL = {**SIMPLE_EXAMPLE, "dataset": "wdi"}
"""Two-level MANUAL with one predictor (wdi-AG.LND.AGRI.ZS), KNN, rfr, 10 trees, as the replaced system's table."""


def calibrate() -> float:
    return float(
        subprocess.run([sys.executable, str(CALIBRATE)], capture_output=True, text=True, check=True).stdout
    )


def measure(indicators, request: dict) -> tuple[dict, float, float]:
    """Scores, median weight of the own series over the hidden countries, and seconds."""
    body = BacktestRequest(**{**request, "history": True, "folds": 5})
    started = time.perf_counter()
    result = service.backtest(body, indicators).model_dump()
    seconds = time.perf_counter() - started
    weight = statistics.median(row["temporal_weight"] for row in result["countries"])
    return result["scores"], weight, seconds


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(unit: float, pairs: list[tuple[str, str, str]], with_afs: bool) -> str:
    indicators = load_indicator_dataset(DEFAULT_DATASET_PATH)
    lines = [
        "| area | target, year | SIDS | two-level MANUAL | two-level + history | cross-country mean "
        "| own series, linear | history vs better baseline | 90 % coverage (history) "
        "| median weight of own series | time (units) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    covered = total = worse = outside = 0
    runs = [
        (area, target, year, "MANUAL", {**MANUAL, "target": target, "target_year": year})
        for area, target, year in pairs
    ]
    if with_afs:
        area, target, year = pairs[0]
        runs.insert(1, (area, target, year, "AFS", {**AFS_EXAMPLE, "target": target, "target_year": year}))
    for area, target, year, scheme, request in runs:
        scores, weight, seconds = measure(indicators, request)
        model, cross = scores["model"], scores["cross_sectional"]
        covered += round(model["coverage"] * model["count"])
        total += model["count"]
        best = min(scores["cross_country_mean"]["mae"], scores["own_series_linear"]["mae"])
        versus = f"{100 * (model['mae'] / best - 1):+.1f} %" if best else "—"
        worse += model["mae"] > best
        outside += not 0.85 <= model["coverage"] <= 0.95
        label = "two-level AFS (10 preds, 100 trees)" if scheme == "AFS" else ""
        lines.append(
            f"| {area} | {target} {year}{' — ' + label if label else ''} | {model['count']} "
            f"| {fmt(cross['mae'])} | **{fmt(model['mae'])}** | {fmt(scores['cross_country_mean']['mae'])} "
            f"| {fmt(scores['own_series_linear']['mae'])} | {versus} "
            f"| {fmt(100 * model['coverage'], 0)} % | {weight:.3f} | {seconds / unit:.2f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    lines.append(
        f"\nAll hidden truths: {covered}/{total} = {100 * covered / total:.1f} % inside the 90 % "
        f"intervals of the history model; rows with coverage outside 85–95 %: {outside} of "
        f"{len(runs)}; rows where history has a higher MAE than the better baseline: {worse} of {len(runs)}. "
        f"Machine unit: {unit:.2f} s (calibrate.py)."
    )
    return "\n".join(lines)


def write(markdown: str, marker: str) -> None:
    text = DOC.read_text()
    begin = f"<!-- {marker}:begin -->"
    start, end = text.index(begin) + len(begin), text.index(f"<!-- {marker}:end -->")
    DOC.write_text(text[:start] + "\n" + markdown + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pairs",
        choices=("table", "development"),
        default="table",
        help="the documented table's pairs, or the ones the model was designed on",
    )
    parser.add_argument("--write", action="store_true", help="update the pairs' table in docs/models.md")
    args = parser.parse_args()
    unit = calibrate()
    development = args.pairs == "development"
    markdown = table(unit, DEVELOPMENT_PAIRS if development else PAIRS, with_afs=not development)
    print(markdown)
    if args.write:
        write(markdown, MARKERS[args.pairs])


if __name__ == "__main__":
    main()
