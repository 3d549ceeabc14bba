"""The sample model's main computation as one importable function, runnable without the app (and by a
queue worker): `summarize(body, indicators, progress=None)`."""

from common.errors import InvalidInput
from common.progress import Progress
from models.sampleapi.schemas import SummaryRequest, SummaryResponse
from models.sampleapi.summary import compare_sids, latest_year_with_sids_data
from shared_dataloader import IndicatorDataset


def summarize(
    body: SummaryRequest, indicators: IndicatorDataset, progress: Progress | None = None
) -> SummaryResponse:
    if body.indicator not in indicators.meta.index:
        raise InvalidInput(
            f"Unknown indicator {body.indicator!r}; list them with POST /sampleapi/indicators?dataset=<code>",
            field="body.indicator",
        )
    if progress:
        progress("comparing", 0.0)
    table = indicators.indicator_table(body.indicator)
    year = body.year or latest_year_with_sids_data(table)
    if year is None or year not in table.columns:
        raise InvalidInput(
            f"Unknown year {body.year!r}; valid: {table.columns[0]}–{table.columns[-1]}", field="body.year"
        )
    return SummaryResponse(
        indicator=body.indicator,
        name=indicators.meta.at[body.indicator, "name"],
        year=year,
        **compare_sids(table, year),
    )
