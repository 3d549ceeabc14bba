"""The training CLI registers a new, servable version (one quick variant, into a temporary store)."""

import json

from models._artifacts import train
from models._artifacts.store import load_model


def test_cli_registers_next_version_and_default(tmp_path, capsys):
    store = tmp_path / "store"
    assert train.main(["sentiment", "--variant", "word", "--store", str(store)]) == 0
    assert train.main(["sentiment", "--variant", "word", "--store", str(store), "--make-default"]) == 0
    assert "sentiment/2: word (skops) held-out ROC AUC" in capsys.readouterr().out
    model = load_model(store / "sentiment")
    assert sorted(model.versions) == ["1", "2"] and model.failures == {}
    assert model.default_version == "2"
    first, second = (model.versions[v].metadata for v in ("1", "2"))
    assert first["metrics"] == second["metrics"]  # deterministic training
    assert first["training_data"]["fingerprint"] == second["training_data"]["fingerprint"]
    assert json.loads((store / "sentiment" / "routing.json").read_text())["default"] == "2"
    assert not [p for p in (store / "sentiment").iterdir() if p.name.startswith("_")]
