"""The playground in a real browser (Playwright on Debian's Chromium) against a live server: every
model with a main endpoint is picked, filled through its cascading lists, run as a job, drawn and
downloaded; the CSV is checked against the API's own JSON. Screenshots land in test-results/."""

import csv
import json
import math
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from common.settings import REPO_ROOT
from helpers.servers import PLAYGROUND_PREFIX

SCREENSHOTS = REPO_ROOT / "test-results" / "playground"
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)
MARKS_JS = """canvases => canvases.map(canvas => Chart.getChart(canvas).getSortedVisibleDatasetMetas()
    .reduce((count, meta) => count + meta.data.filter(element => element && !element.skip).length, 0))"""


class Playground:
    """The page as a person uses it, plus what the tests need to read back."""

    def __init__(self, page: Page, server: str) -> None:
        self.page = page
        self.server = server
        self.requests: list[str] = []
        self.problems: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on(
            "console",
            lambda message: (
                self.problems.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )
        page.set_default_timeout(TIMEOUT_MS)

    def open(self, fragment: str = "", prefix: str = "") -> "Playground":
        self.page.goto(f"{self.server}{prefix}/ui{fragment}")
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true")
        return self

    def wait_idle(self) -> None:
        expect(self.page.locator("#form")).to_have_attribute("data-ready", "true")
        expect(self.page.locator("#fields")).to_have_attribute("data-pending", "0")

    def pick(self, model: str, endpoint: str | None = None) -> None:
        self.page.get_by_test_id("model").select_option(model)
        self.wait_idle()
        if endpoint:
            self.page.get_by_test_id("operation").select_option(endpoint)
            self.wait_idle()

    def field(self, name: str):
        return self.page.locator(f"#field-{name}")

    def choose(self, name: str, value) -> None:
        """Select in a dropdown (or type into an input), then wait for the lists it refills."""
        control = self.field(name)
        expect(control).to_be_enabled()
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(str(value))
            control.dispatch_event("change")
        self.wait_idle()

    def fill_through_lists(self) -> None:
        """Re-choose every listed field's pre-filled value in page order: each choice refills the
        lists that depend on it, which must still offer the next value."""
        for row in self.page.locator("#fields .field[data-listed='true']:visible").all():
            control = row.locator("select")
            multiple = control.evaluate("e => e.multiple")
            chosen = control.evaluate("e => [...e.selectedOptions].map(o => o.value)")
            self.choose(row.get_attribute("data-field"), chosen if multiple else chosen[0])

    def run(self, endpoint_path: str) -> dict:
        """Press Run; the JSON body sent to `endpoint_path`."""
        with self.page.expect_request(
            lambda r: r.method == "POST" and urlsplit(r.url).path.endswith(endpoint_path)
        ) as sent:
            self.page.get_by_test_id("run").click()
        return sent.value.post_data_json

    def wait_result(self) -> None:
        """Wait for this run's answer to be shown (the page may still show the previous run's result
        while the progress bar already stands at 1)."""
        expect(self.page.get_by_test_id("message")).to_contain_text("Done in")
        expect(self.page.locator("#result")).to_be_visible()
        expect(self.page.get_by_test_id("progress")).to_have_js_property("value", 1)

    def marks(self) -> list[int]:
        return self.page.get_by_test_id("chart").evaluate_all(MARKS_JS)

    def download_csv(self) -> list[dict]:
        with self.page.expect_download() as download:
            self.page.get_by_test_id("download-csv").click()
        with open(download.value.path(), newline="", encoding="utf-8") as file:
            return list(csv.DictReader(file))

    def assert_clean(self) -> None:
        """No request left the page's origin; no script error and no CSP violation."""
        self.assert_same_origin()
        assert not self.problems, self.problems

    def assert_same_origin(self) -> None:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.server))
        strays = [
            u
            for u in self.requests
            if not (u.startswith(origin + "/") or u.startswith(("blob:" + origin, "data:")))
        ]
        assert not strays, f"requests left the page's origin: {strays}"


@pytest.fixture(scope="module")
def playwright():
    """pytest-playwright's `playwright`, but stopped after this module: a started sync Playwright
    marks an event loop as running in this thread, which breaks later tests' `asyncio.run`."""
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="module")
def browser_context_args():
    return {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="module")
def browser(browser_type, browser_type_launch_args):
    launched = browser_type.launch(**browser_type_launch_args)
    yield launched
    launched.close()


@pytest.fixture
def playground(page: Page, playground_server):
    ui = Playground(page, playground_server)
    yield ui
    ui.assert_clean()


def close(a, b) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-5, abs_tol=1e-9)


def check_twolvlimp(rows, answer, body):
    ij = answer["indicatorJson"]
    year = body["target_year"]
    data, lower = ij["data"][year], ij["lowerIntervals"][year]
    assert {r["country"] for r in rows} == set(data)
    for row in rows:
        assert close(row["value"], data[row["country"]])
        assert (row["status"] == "imputed") == (row["country"] in lower)
        if row["status"] == "imputed":
            assert close(row["lower"], lower[row["country"]]) and close(
                row["upper"], ij["upperIntervals"][year][row["country"]]
            )


def check_statimpute(rows, answer, body):
    series = answer["imputed_series"]
    assert [r["year"] for r in rows] == [str(y) for y in series["columns"]]
    assert all(close(r["value"], v) for r, v in zip(rows, series["data"][0]))
    assert {r["year"] for r in rows if r["filled"] == "filled"} == set(answer["missing_years"])


def check_correlate(rows, answer, body):
    corr = answer["country_corr"]
    assert [r["country"] for r in rows] == corr["index"]
    assert all(close(r["r"], v) for r, v in zip(rows, corr[body["country"]]))


def check_survey(rows, answer, body):
    assert [int(r["cluster"]) for r in rows] == answer["cluster_label"]
    assert [int(r["row"]) for r in rows] == answer["rows"]


def check_classifier(rows, answer, body):
    assert [r["prediction"] for r in rows] == answer["predictions"]
    for row, probabilities in zip(rows, answer["probabilities"]):
        assert all(close(row[f"p_{label}"], p) for label, p in zip(answer["labels"], probabilities))


def flatten(value, path=""):
    if isinstance(value, dict | list):
        items = enumerate(value) if isinstance(value, list) else value.items()
        return [leaf for key, item in items for leaf in flatten(item, f"{path}.{key}" if path else str(key))]
    return [(path, value)]


def check_generic(rows, answer, body):
    leaves = flatten(answer)
    assert [r["field"] for r in rows] == [path for path, _ in leaves]
    for row, (_, value) in zip(rows, leaves):
        assert close(row["value"], value) if isinstance(value, int | float) else row["value"] == str(value)


CHECKS = {
    "twolvlImp": check_twolvlimp,
    "Statimpute": check_statimpute,
    "CountryCorrelation": check_correlate,
    "SurveyCluster": check_survey,
    "sentiment": check_classifier,
    "flight_delay": check_classifier,
}


def main_endpoints(server: str) -> dict[str, str]:
    """model → path of its main endpoint, from the service itself (a new model is tested too)."""
    spec = httpx.get(f"{server}/openapi.json").json()
    labels = {
        entry["label"]: entry["model"] for entry in httpx.get(f"{server}/params").json() if "inputs" in entry
    }
    return {
        labels[op["tags"][0]]: path
        for path, ops in spec["paths"].items()
        for op in ops.values()
        if op.get("x-main-endpoint") and op["tags"][0] in labels
    }


def test_every_model_runs_draws_and_downloads_what_the_api_answers(playground, playground_server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    endpoints = main_endpoints(playground_server)
    assert {
        "twolvlImp",
        "Statimpute",
        "CountryCorrelation",
        "SurveyCluster",
        "sentiment",
        "flight_delay",
    } <= set(endpoints)
    playground.open()
    for model, path in endpoints.items():
        playground.pick(model)
        playground.fill_through_lists()
        if model == "twolvlImp":
            expect(playground.page.get_by_test_id("estimate")).to_contain_text("Expected time")
        body = playground.run(path)
        playground.wait_result()
        marks = playground.marks()
        assert marks and all(count > 0 for count in marks), (model, marks)
        playground.page.locator("#charts figure").first.screenshot(path=SCREENSHOTS / f"{model}.png")
        rows = playground.download_csv()
        shown = json.loads(playground.page.locator("#json").text_content())
        if "version" in shown:  # an A/B split may serve another version to the next request
            body = {**body, "version": shown["version"]}
        answer = httpx.post(f"{playground_server}{path}", json=body, timeout=60).json()
        CHECKS.get(model, check_generic)(rows, answer, body)
        expect(playground.page.get_by_test_id("result-table").locator("tbody tr")).to_have_count(
            min(len(rows), 300)
        )
    assert any("/jobs/" in url for url in playground.requests), "no job was polled"


def test_cascading_lists_and_required_if_follow_the_api(playground, playground_server):
    playground.open().pick("twolvlImp")
    playground.choose("target_year", "2005")
    datasets = httpx.get(f"{playground_server}/twolvlImp/datasets", params={"target_year": "2005"}).json()
    assert playground.field("dataset").evaluate("e => [...e.options].map(o => o.value)") == list(datasets)
    playground.choose("dataset", "wdi")
    playground.choose("target", "wdi-SP.DYN.LE00.IN")
    predictors = httpx.post(
        f"{playground_server}/twolvlImp/predictors",
        json={"target_year": "2005", "dataset": "wdi", "target": "wdi-SP.DYN.LE00.IN", "scheme": "MANUAL"},
    ).json()
    assert playground.field("manual_predictors").evaluate("e => [...e.options].map(o => o.value)") == list(
        predictors
    )
    expect(playground.field("number_predictor")).to_be_hidden()
    playground.choose("scheme", "AFS")
    expect(playground.field("manual_predictors")).to_be_hidden()
    counts = httpx.post(
        f"{playground_server}/twolvlImp/predictors",
        json={"target_year": "2005", "dataset": "wdi", "target": "wdi-SP.DYN.LE00.IN", "scheme": "AFS"},
    ).json()
    assert (
        playground.field("number_predictor").evaluate("e => [...e.options].map(o => Number(o.value))")
        == counts
    )


def test_an_invalid_value_shows_the_service_error_next_to_its_field(playground):
    playground.open().pick("Statimpute")
    playground.choose("method", "spline")
    playground.choose("d", "")
    playground.run("/statimpute/impute")
    error = playground.page.locator(".field[data-field='d'] [data-testid='field-error']")
    expect(error).to_contain_text("d is required when method is spline")
    expect(playground.field("d")).to_have_attribute("aria-invalid", "true")
    expect(playground.field("d")).to_be_focused()
    playground.choose("d", "7")
    playground.run("/statimpute/impute")
    expect(error).to_be_visible()
    expect(playground.page.get_by_test_id("field-error").filter(has_text="3")).to_have_count(1)


def test_a_backtest_form_comes_from_the_openapi_and_charts_the_baselines(playground):
    playground.open().pick("Statimpute", "/statimpute/backtest")
    expect(playground.field("folds")).to_have_value("5")
    playground.run("/statimpute/backtest")
    playground.wait_result()
    assert playground.marks()[0] == 6  # RMSE and MAE of the model and of both baselines
    expect(playground.page.get_by_test_id("result-table")).to_contain_text("series_mean")


def test_cancel_stops_a_heavy_job(playground, playground_server):
    playground.open().pick("twolvlImp", "/twolvlImp/backtest")
    for name, value in (
        ("model", "all"),
        ("estimators", "300"),
        ("folds", "10"),
        ("interpolator", "IterativeImputer"),
    ):
        playground.choose(name, value)
    with playground.page.expect_response(lambda r: r.url.endswith("/twolvlImp/backtest")) as accepted:
        playground.page.get_by_test_id("run").click()
    job = accepted.value.json()["id"]
    expect(playground.page.get_by_test_id("stage")).to_contain_text("fold")
    playground.page.get_by_test_id("cancel").click()
    expect(playground.page.get_by_test_id("message")).to_have_text("Cancelled.")
    view = httpx.get(f"{playground_server}/jobs/{job}").json()
    assert view["status"] == "cancelled" and view["progress"]["fraction"] < 1
    expect(playground.page.get_by_test_id("run")).to_be_enabled()
    expect(playground.page.get_by_test_id("cancel")).to_be_hidden()


def test_a_shared_link_restores_the_form_and_runs_only_when_cached(playground, browser, playground_server):
    playground.open(prefix=PLAYGROUND_PREFIX).pick("Statimpute")
    playground.choose("method", "pchip")
    playground.choose("country", "JAM")
    link = playground.page.url
    assert "pchip" in link and PLAYGROUND_PREFIX + "/ui#" in link

    fresh = Playground(browser.new_page(), playground_server)
    posts = []
    fresh.page.on("request", lambda r: posts.append(r) if r.method == "POST" and "/impute" in r.url else None)
    fresh.page.goto(link)
    expect(fresh.field("method")).to_have_value("pchip")
    expect(fresh.field("country")).to_have_value("JAM")
    expect(fresh.page.get_by_test_id("message")).to_contain_text("press Run")
    expect(fresh.page.locator("#result")).to_be_hidden()
    assert posts and all(r.headers.get("cache-control") == "only-if-cached" for r in posts)

    playground.run(f"{PLAYGROUND_PREFIX}/statimpute/impute")
    playground.wait_result()
    fresh.page.reload()
    fresh.wait_result()
    expect(fresh.page.get_by_test_id("result-table")).to_contain_text("filled")
    assert all(u.startswith(playground_server + PLAYGROUND_PREFIX + "/") for u in fresh.requests), (
        fresh.requests
    )
    fresh.assert_clean()
    fresh.page.close()


def test_usable_at_375_px_with_labels_keyboard_focus_and_contrast(playground):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    playground.page.set_viewport_size({"width": 375, "height": 800})
    playground.open()
    playground.page.keyboard.press("Tab")
    playground.page.keyboard.press("Tab")
    expect(playground.page.get_by_test_id("model")).to_be_focused()
    outline = playground.page.get_by_test_id("model").evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none"
    playground.pick("CountryCorrelation", "/correlation/cluster")
    playground.page.get_by_test_id("run").focus()
    playground.page.keyboard.press("Enter")
    playground.wait_result()
    playground.page.locator("#charts figure").first.screenshot(
        path=SCREENSHOTS / "CountryCorrelation-cluster-375px.png"
    )
    assert playground.page.evaluate("document.documentElement.scrollWidth") <= 375
    unlabelled = playground.page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.offsetParent !== null && !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)""")
    assert not unlabelled
    assert min(playground.page.evaluate(CONTRAST_JS)) >= 4.5


CONTRAST_JS = """(() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const background = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; };
  return [...document.querySelectorAll('label, .help, button, h1, h2, p, th, td, caption, header a')]
    .filter(e => e.offsetParent !== null && e.textContent.trim())
    .map(e => { const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(background(e))];
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); });
})()"""


def test_other_methods_overlay_the_statimpute_series(playground, playground_server):
    playground.open().pick("Statimpute")
    body = playground.run("/statimpute/impute")
    playground.wait_result()
    playground.page.get_by_label("pchip", exact=True).check()
    playground.page.get_by_label("spline", exact=True).check()
    playground.page.get_by_test_id("overlay-run").click()
    expect(playground.page.get_by_label("spline", exact=True)).to_be_disabled()
    playground.page.wait_for_function(
        "() => { const c = Chart.getChart(document.querySelector('[data-testid=chart]'));"
        " const labels = c ? c.data.datasets.map(d => d.label) : [];"
        " return labels.includes('pchip') && labels.includes('spline'); }"
    )
    lines = playground.page.get_by_test_id("chart").first.evaluate(
        "c => Object.fromEntries(Chart.getChart(c).data.datasets.map(d => [d.label, d.data]))"
    )
    for method, extra in (("pchip", {}), ("spline", {"d": 3})):
        expected = httpx.post(
            f"{playground_server}/statimpute/impute", json={**body, "method": method, **extra}
        ).json()
        assert lines[method] == expected["imputed_series"]["data"][0]
