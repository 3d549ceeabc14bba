"""The linear form of TF-IDF + logistic regression pipelines (issue 18): the own analyzer yields
scikit-learn's terms for every supported setting, the probabilities agree with the pipeline, it
survives saving, and a pipeline it cannot stand for gets none."""

import csv
import json
import re

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline

from common.settings import DEFAULT_MODEL_STORE_PATH
from models._artifacts import derived, linear

SENTENCES = DEFAULT_MODEL_STORE_PATH / "_data" / "sentiment-labelled-sentences" / "sentiment.csv"
ODD_TEXTS = [
    *linear.PROBE_TEXTS,
    "ÀÉÎÕÜ àéîõü Ǆ ǆ Σίσυφος ΣΊΣΥΦΟΣ",
    "tabs\tand\u00a0no-break\u2003spaces\u200b, zero-width",
    "one",
    "ab",
    "a",
    " ",
    "\n",
    "n-grams: a b c a b c a b c",
]


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], np.ndarray]:
    with open(SENTENCES, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[:800]
    return [row["text"] for row in rows], np.array([int(row["label"]) for row in rows])


def fitted(corpus, classifier=None, labels=None, **settings) -> Pipeline:
    texts, y = corpus
    pipeline = Pipeline(
        [("tfidf", TfidfVectorizer(**settings)), ("classifier", classifier or LogisticRegression(C=5.0))]
    )
    return pipeline.fit(texts, y if labels is None else labels)


SUPPORTED = {
    "words": {},
    "word 1-3-grams, sublinear": {"ngram_range": (1, 3), "sublinear_tf": True},
    "word 2-grams only": {"ngram_range": (2, 2)},
    "English stop words": {"stop_words": "english", "ngram_range": (1, 2)},
    "a stop list": {"stop_words": ["the", "and", "not"]},
    "accents (unicode), no lowercase": {"strip_accents": "unicode", "lowercase": False},
    "accents (ascii)": {"strip_accents": "ascii"},
    "a token pattern with a group": {"token_pattern": r"(?u)\b(\w+)'?\w*\b"},
    "single-letter tokens": {"token_pattern": r"(?u)\b\w+\b", "binary": True},
    "chars 1-4": {"analyzer": "char", "ngram_range": (1, 4)},
    "chars within words 1-3": {"analyzer": "char_wb", "ngram_range": (1, 3), "norm": "l1"},
    "chars within words 3-6, no idf": {"analyzer": "char_wb", "ngram_range": (3, 6), "use_idf": False},
    "no norm": {"norm": None, "sublinear_tf": True},
}


@pytest.mark.parametrize("settings", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_the_linear_form_gives_the_pipelines_terms_and_probabilities(corpus, settings, tmp_path):
    pipeline = fitted(corpus, **settings)
    model = linear.derive(pipeline)
    assert model is not None
    texts = [*corpus[0], *ODD_TEXTS]
    reference = pipeline.steps[0][1].build_analyzer()
    assert [model.analyze(text) for text in texts] == [reference(text) for text in texts]
    expected = pipeline.predict_proba(texts)
    assert np.abs(model.predict_proba(texts) - expected).max() <= linear.AGREEMENT_TOLERANCE
    linear.save(model, tmp_path)
    again = linear.read(tmp_path)
    assert np.array_equal(again.predict_proba(texts), model.predict_proba(texts))
    assert json.loads((tmp_path / linear.LINEAR_FILE).read_text())["terms"] == model.terms


def _tokens(text: str) -> list[str]:
    return text.split()


def _shout(text: str) -> str:
    return text.upper()


UNSUPPORTED = {
    "a callable tokenizer": ({"tokenizer": _tokens, "token_pattern": None}, None, None),
    "a callable preprocessor": ({"preprocessor": _shout}, None, None),
    "a callable analyzer": ({"analyzer": _tokens}, None, None),
    "float32 features": ({"dtype": np.float32}, None, None),
    "three classes": ({}, None, "three"),
    "another classifier": ({}, SGDClassifier(loss="log_loss", random_state=0), None),
}


@pytest.mark.parametrize("settings, classifier, labels", UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_a_pipeline_the_linear_form_cannot_stand_for_gets_none(corpus, settings, classifier, labels):
    three = np.arange(len(corpus[0])) % 3 if labels == "three" else None
    pipeline = fitted(corpus, classifier=classifier, labels=three, **settings)
    with pytest.raises(linear.UnusableForm):
        linear.from_pipeline(pipeline)
    assert linear.derive(pipeline) is None


def test_a_form_that_disagrees_with_its_pipeline_is_not_used(corpus, tmp_path):
    pipeline = fitted(corpus)
    model = linear.from_pipeline(pipeline)
    assert linear.disagreement(model, pipeline, linear.check_texts(model)) is None
    model.coef[0] += 1e-3  # (one term's weight off)
    assert "probabilities differ" in (linear.disagreement(model, pipeline, linear.check_texts(model)) or "")
    model.coef[0] -= 1e-3
    model.analyze = re.compile(r"\w+").findall  # (another analyzer)
    assert "splits" in (linear.disagreement(model, pipeline, linear.check_texts(model)) or "")


def test_an_entry_holds_the_linear_form_only_when_the_pipeline_has_one(corpus, tmp_path):
    with_form = derived.write(tmp_path, "a" * 64, fitted(corpus))
    without = derived.write(tmp_path, "b" * 64, fitted(corpus, tokenizer=_tokens, token_pattern=None))
    assert with_form is not None and without is not None
    assert (with_form / linear.LINEAR_FILE).is_file() and not (without / linear.LINEAR_FILE).exists()
    assert derived.has_linear_form("a" * 64, [tmp_path]) and not derived.has_linear_form("b" * 64, [tmp_path])
    assert (
        derived.linear_form("a" * 64, [tmp_path]) is not None
        and derived.linear_form("b" * 64, [tmp_path]) is None
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / linear.LINEAR_FILE).write_text("{"),
        lambda folder: np.save(folder / linear.IDF_FILE, np.ones(3)),
        lambda folder: np.save(folder / linear.COEF_FILE, np.array(["x"], dtype=object), allow_pickle=True),
        lambda folder: (folder / linear.LINEAR_FILE).write_text(
            json.dumps({**json.loads((folder / linear.LINEAR_FILE).read_text()), "format": 99})
        ),
        lambda folder: (folder / linear.LINEAR_FILE).write_text(
            json.dumps(
                {
                    **json.loads((folder / linear.LINEAR_FILE).read_text()),
                    "analyzer": {
                        **json.loads((folder / linear.LINEAR_FILE).read_text())["analyzer"],
                        "analyzer": "x",
                    },
                }
            )
        ),
    ],
    ids=["bad-json", "wrong-length", "pickled-object", "other-format", "unknown-analyzer"],
)
def test_a_damaged_linear_form_is_refused(corpus, tmp_path, damage, caplog):
    folder = derived.write(tmp_path, "c" * 64, fitted(corpus))
    assert folder is not None
    damage(folder)
    with pytest.raises(linear.UnusableForm):
        linear.read(folder)
    assert derived.linear_form("c" * 64, [tmp_path]) is None
    assert "linear form" in caplog.text and "skipped" in caplog.text
