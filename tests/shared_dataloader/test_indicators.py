"""The indicator dataset: validation rules of SPEC §3, sharing and cached pivots."""

import numpy as np
import pandas as pd
import pytest

from common.constants import SIDS
from common.settings import DEFAULT_DATASET_PATH
from shared_dataloader import DatasetError, load_indicator_dataset
from shared_dataloader.indicators import read_indicator_dataset

META = "Indicator Code,Indicator,Dimension,Category,Dataset\n"


def write_dataset(folder, data: str, meta: str, datasets: str) -> None:
    (folder / "indicatorData.csv").write_text(data)
    (folder / "indicatorMeta.csv").write_text(meta)
    (folder / "datasetMeta.csv").write_text(datasets)


def test_bundled_dataset_matches_its_sources_md(dataset):
    assert len(dataset.values) == 125_093
    assert len(dataset.meta) == 713
    assert len(dataset.datasets) == 17
    assert dataset.years == [str(y) for y in range(1990, 2022)]
    assert set(SIDS) <= set(dataset.countries)
    assert (dataset.meta["dataset"] == "wdi").sum() == 325


def test_pivots_are_built_once_and_loads_share_the_mapped_values(dataset):
    assert dataset.year_table("2001") is dataset.year_table("2001")
    again = load_indicator_dataset(DEFAULT_DATASET_PATH)
    assert again is not dataset  # the loader keeps nothing; its caller owns what it loaded
    pd.testing.assert_frame_equal(again.values, dataset.values, check_exact=True)
    mapped = [mapped_file(d.values.to_numpy()) for d in (dataset, again)]
    assert mapped[0] is not None and mapped[0] == mapped[1]  # both views of one file's pages


def mapped_file(array: np.ndarray) -> str | None:
    while array is not None:
        if isinstance(array, np.memmap):
            return array.filename
        array = array.base
    return None


def test_year_table_is_the_pivot_of_one_year(dataset):
    table = dataset.year_table("2001")
    assert table.loc["FJI", "wdi-EG.ELC.ACCS.ZS"] == dataset.values.loc[("FJI", "wdi-EG.ELC.ACCS.ZS"), "2001"]
    assert list(table.columns) == sorted(table.columns)
    assert table.shape == (len(dataset.countries), len(dataset.meta))
    with pytest.raises(KeyError):
        dataset.year_table("1850")


def test_indicator_table_is_country_by_year(dataset):
    table = dataset.indicator_table("wdi-EG.ELC.ACCS.ZS")
    assert list(table.columns) == dataset.years
    assert table.loc["JAM", "2010"] == dataset.values.loc[("JAM", "wdi-EG.ELC.ACCS.ZS"), "2010"]


def test_rows_without_codes_and_unused_meta_are_dropped(tmp_path):
    write_dataset(
        tmp_path,
        "Country Code,Indicator Code,2000,2001\nFJI,a-x,1,2\n,a-x,3,4\nJAM,,5,6\nJAM,a-x,,7\n",
        META + "a-x,X,Economy,Growth,a\nb-y,Y,Health,Care,b\n",
        "Dataset Code,Dataset Name\na,Set A\nb,Set B\nc,Set C\n",
    )
    result = read_indicator_dataset(tmp_path)
    assert list(result.values.index) == [("FJI", "a-x"), ("JAM", "a-x")]
    assert list(result.meta.index) == ["a-x"]
    assert result.datasets == {"a": "Set A"}
    assert pd.isna(result.values.loc[("JAM", "a-x"), "2000"])


@pytest.mark.parametrize(
    "data,meta,datasets,message",
    [
        (
            "Country Code,Indicator Code,2000\nFJI,a-x,abc\n",
            META + "a-x,X,E,G,a\n",
            "Dataset Code,Dataset Name\na,A\n",
            "indicatorData.csv: column 2000 has a value that is not a number ('abc' in row 2)",
        ),
        (
            "Country Code,Indicator Code\nFJI,a-x\n",
            META + "a-x,X,E,G,a\n",
            "Dataset Code,Dataset Name\na,A\n",
            "indicatorData.csv: no year columns",
        ),
        (
            "Country Code,Indicator Code,2000\nFJI,a-x,1\n",
            "Indicator Code,Indicator\na-x,X\n",
            "Dataset Code,Dataset Name\na,A\n",
            "indicatorMeta.csv: missing column(s) Dimension, Category, Dataset",
        ),
        (
            "Country Code,Indicator Code,2000\nFJI,a-x,1\n",
            META + "a-x,X,E,G,a\n",
            "Code,Name\na,A\n",
            "datasetMeta.csv: missing column(s) Dataset Code, Dataset Name",
        ),
    ],
)
def test_malformed_files_are_named_with_the_problem(tmp_path, data, meta, datasets, message):
    write_dataset(tmp_path, data, meta, datasets)
    with pytest.raises(DatasetError) as error:
        read_indicator_dataset(tmp_path)
    assert str(error.value).startswith(message)


def test_a_missing_file_is_named(tmp_path):
    (tmp_path / "indicatorData.csv").write_text("Country Code,Indicator Code,2000\n")
    with pytest.raises(DatasetError, match=r"indicatorMeta\.csv: file not found"):
        read_indicator_dataset(tmp_path)


def test_year_columns_are_chronological_whatever_the_file_order(tmp_path):
    """Series are interpolated along the columns, so a file listing 2002 before 2000 must not matter."""
    write_dataset(
        tmp_path,
        "Country Code,Indicator Code,2002,2000,2001\nFJI,a-x,3,1,2\n",
        META + "a-x,X,Economy,Growth,a\n",
        "Dataset Code,Dataset Name\na,Set A\n",
    )
    result = read_indicator_dataset(tmp_path)
    assert result.years == ["2000", "2001", "2002"]
    assert list(result.indicator_table("a-x").loc["FJI"]) == [1.0, 2.0, 3.0]
