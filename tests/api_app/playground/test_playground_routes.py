"""The playground's server side: the page and its static files, links to it, and
`Cache-Control: only-if-cached`, which lets a shared link show a cached answer without computing."""

from helpers.app import running_app

CORRELATE = {"dataset": "wdi", "category": "Financial Sector", "country": "SGP", "year": "2014"}
ONLY_IF_CACHED = {"Cache-Control": "only-if-cached"}


def test_ui_page_and_its_modules_are_served(client):
    page = client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="ui/static/app.js"' in page.text and "<script>" not in page.text
    for path in ("ui/static/app.js", "ui/static/vendor/chart.umd.min.js"):
        response = client.get("/" + path)
        assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert client.get("/ui/static/nothing.js").status_code == 404


def test_service_info_and_docs_link_to_the_playground(client):
    assert client.get("/").json()["playground"] == "/ui"
    assert "[playground](ui)" in client.get("/openapi.json").json()["info"]["description"]
    assert "/ui" not in client.get("/openapi.json").json()["paths"]


def test_only_if_cached_answers_504_without_computing_then_the_cached_answer():
    with running_app() as client:
        miss = client.post("/correlation/correlate", json=CORRELATE, headers=ONLY_IF_CACHED)
        assert miss.status_code == 504 and miss.json()["code"] == "not_cached"
        assert (
            client.post(
                "/correlation/correlate",
                json=CORRELATE,
                headers={**ONLY_IF_CACHED, "Prefer": "respond-async"},
            ).status_code
            == 504
        )
        computed = client.post("/correlation/correlate", json=CORRELATE)
        hit = client.post("/correlation/correlate", json=CORRELATE, headers=ONLY_IF_CACHED)
        assert hit.status_code == 200 and hit.json() == computed.json()
        assert hit.headers["ETag"] == computed.headers["ETag"]


def test_only_if_cached_never_runs_an_uncached_artifact_prediction(client):
    response = client.post("/sentiment/predict", json={"instances": ["great"]}, headers=ONLY_IF_CACHED)
    assert response.status_code == 504 and response.json()["code"] == "not_cached"
