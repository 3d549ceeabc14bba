"""The sample survey shipped beside the indicator dataset (`survey/data.json`, `survey/metadata.json`)."""

import json
from dataclasses import dataclass
from pathlib import Path

from shared_dataloader.errors import DatasetError

METADATA_KEYS = ("Question Name", "Type", "Factor")


@dataclass(frozen=True)
class SurveySample:
    data: list[dict]
    metadata: list[dict]

    @property
    def factors(self) -> list[str]:
        return sorted({row["Factor"] for row in self.metadata if row.get("Factor")})


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise DatasetError(f"survey/{path.name}: file not found in the dataset folder")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"survey/{path.name}: not valid JSON ({exc})") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DatasetError(f"survey/{path.name}: expected a list of row objects")
    return rows


def load_survey_sample(folder: Path) -> SurveySample:
    folder = Path(folder) / "survey"
    data, metadata = _read_rows(folder / "data.json"), _read_rows(folder / "metadata.json")
    for row in metadata:
        missing = [k for k in METADATA_KEYS if k not in row]
        if missing:
            raise DatasetError(f"survey/metadata.json: a row lacks {', '.join(missing)}")
    return SurveySample(data=data, metadata=metadata)
