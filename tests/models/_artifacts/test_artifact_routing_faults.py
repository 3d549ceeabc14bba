"""A routing.json that turns to garbage is reported (versions, readiness) and the last good routing
keeps serving, instead of traffic moving silently to another version."""

import pytest

from helpers.artifacts import artifact_app, copy_store, texts, write_routing


@pytest.mark.parametrize("garbage", ["{not json", '["a list"]', '{"default": "9"}', '{"split": {"1": -1}}'])
def test_garbage_routing_is_reported_and_the_last_good_routing_is_kept(tmp_path, garbage):
    store = copy_store(
        tmp_path / "store",
        {"sentiment": ["1", "2"]},
        routing={"sentiment": {"default": "1", "split": {"1": 3, "2": 1}}},
    )
    with artifact_app(store, models=("sentiment",)) as client:
        before = client.get("/sentiment/versions").json()
        assert before["default_version"] == "1" and before["traffic_split"] == {"1": 0.75, "2": 0.25}
        (store / "sentiment" / "routing.json").write_text(garbage, encoding="utf-8")
        after = client.post("/sentiment/reload").json()
        assert after["default_version"] == "1" and after["traffic_split"] == before["traffic_split"]
        assert (
            "routing.json" in after["routing_error"] and "last good routing is kept" in after["routing_error"]
        )
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert "routing.json ignored" in ready.json()["models"]["sentiment"]["detail"]
        served = {client.post("/sentiment/predict", json=texts("fine")).json()["version"] for _ in range(40)}
        assert served == {"1", "2"}, "the 75/25 split still applies"

        write_routing(store / "sentiment", {"default": "2"})
        fixed = client.post("/sentiment/reload").json()
        assert (
            fixed["default_version"] == "2" and fixed["traffic_split"] == {} and "routing_error" not in fixed
        )
        assert "detail" not in client.get("/health/ready").json()["models"]["sentiment"]
