"""TF-IDF + binary logistic regression text models as plain data, scored without scikit-learn (issue 18).

A serving process that held the fitted scikit-learn pipeline imported scikit-learn, SciPy and skops
(about 110 MiB) to score texts with a dictionary lookup and a dot product. The *linear form* is what
scoring needs: the analyzer's settings, the vocabulary (terms in column order), the idf weights, the
classifier's coefficients and intercept. It is written into the artifact's derived entry (`derived.py`)
where the pipeline is loaded anyway, only after it was checked there against the pipeline, and read
back with json and NumPy alone:

- `linear.json`: `{"format", "analyzer": {...}, "tf": {...}, "intercept", "terms"}`;
- `idf.npy`, `coef.npy`: float64 vectors, one value per term (`allow_pickle=False`).

The analyzer is this module's own: scikit-learn's `word`, `char` and `char_wb` analyzers as that
library specifies them (lowercasing, accent stripping, token pattern, n-grams, stop words). A pipeline
with any other setting (a callable analyzer, preprocessor or tokenizer, another input mode or dtype,
more than two classes, another estimator) gets no linear form, and is scored where scikit-learn loads.
"""

import json
import logging
import math
import re
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 1
LINEAR_FILE = "linear.json"
IDF_FILE = "idf.npy"
COEF_FILE = "coef.npy"
FILES = (LINEAR_FILE, IDF_FILE, COEF_FILE)
AGREEMENT_TOLERANCE = 1e-9
"""Largest difference from the pipeline's probabilities a linear form may show on the check texts."""
PROBE_TEXTS = (
    "",
    "great",
    "not good at all",
    "The food was GREAT but service slow!!",
    "ok ok ok",
    "  spaced\t\tout \n\n words  ",
    "Café naïve DÉJÀ vu, façade — résumé",
    "İstanbul ǅemal straße ﬁne Ⅻ ½",
    "don't e-mail me: it's 10/10, 3.5 stars & 100%",
    "日本語のテキスト and emoji 👍🏽 😡",
    "a b c d e f g",
    "x" * 40,
)
"""Texts every linear form is checked on, besides the model's own terms and training vocabulary."""
ANALYZERS = ("word", "char", "char_wb")
RUNS_OF_WHITESPACE = re.compile(r"\s\s+")


class UnusableForm(ValueError):
    """A linear form that cannot be used (damaged files, unknown settings); the message says why."""


@dataclass(frozen=True)
class AnalyzerSettings:
    """What turns a text into terms (the fitted vectorizer's settings that matter for scoring)."""

    analyzer: str
    lowercase: bool
    strip_accents: str | None
    token_pattern: str
    ngram_range: tuple[int, int]
    stop_words: tuple[str, ...] | None

    def problem(self) -> str | None:
        """Why these settings cannot be analyzed here, or None."""
        low, high = self.ngram_range
        if self.analyzer not in ANALYZERS:
            return f"analyzer {self.analyzer!r} (supported: {', '.join(ANALYZERS)})"
        if self.strip_accents not in (None, "ascii", "unicode"):
            return f"strip_accents {self.strip_accents!r}"
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
            return f"ngram_range {self.ngram_range!r}"
        if self.analyzer == "word":
            try:
                groups = re.compile(self.token_pattern).groups
            except (re.error, TypeError) as exc:
                return f"token_pattern {self.token_pattern!r} ({exc})"
            if groups > 1:
                return f"token_pattern {self.token_pattern!r} has more than one group"
        return None


def _without_accents(text: str) -> str:
    """Accents removed: decomposed (NFKD), combining characters dropped (`strip_accents="unicode"`)."""
    if text.isascii():
        return text
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))


def _ascii_only(text: str) -> str:
    """Decomposed (NFKD), then every character outside ASCII dropped (`strip_accents="ascii"`)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _word_grams(tokens: list[str], low: int, high: int) -> list[str]:
    """The n-grams (low ≤ n ≤ high) of a token list, joined by one space: every unigram first, then
    every bigram in text order, and so on."""
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams.extend(" ".join(tokens[start : start + n]) for start in range(len(tokens) - n + 1))
    return grams


def _char_grams(text: str, low: int, high: int) -> list[str]:
    """The character n-grams of the whole text (runs of whitespace count as one space)."""
    text = RUNS_OF_WHITESPACE.sub(" ", text)
    grams: list[str] = []
    for n in range(low, min(high, len(text)) + 1):
        grams.extend(text[start : start + n] for start in range(len(text) - n + 1))
    return grams


def _word_bounded_char_grams(text: str, low: int, high: int) -> list[str]:
    """The character n-grams of each whitespace-separated word padded with one space on each side; a
    padded word no longer than n is one n-gram, for the smallest such n only."""
    grams: list[str] = []
    for word in RUNS_OF_WHITESPACE.sub(" ", text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if n >= len(padded):
                grams.append(padded)
                break
            grams.extend(padded[start : start + n] for start in range(len(padded) - n + 1))
    return grams


def make_analyzer(settings: AnalyzerSettings) -> Callable[[str], list[str]]:
    """text → its terms, in the order scikit-learn's analyzer of the same settings yields them."""
    problem = settings.problem()
    if problem is not None:
        raise UnusableForm(f"unsupported analyzer setting: {problem}")
    lowercase = settings.lowercase
    accents = {None: None, "ascii": _ascii_only, "unicode": _without_accents}[settings.strip_accents]
    low, high = settings.ngram_range

    def preprocess(text: str) -> str:
        if lowercase:
            text = text.lower()
        return accents(text) if accents is not None else text

    if settings.analyzer == "char":
        return lambda text: _char_grams(preprocess(text), low, high)
    if settings.analyzer == "char_wb":
        return lambda text: _word_bounded_char_grams(preprocess(text), low, high)
    find_tokens = re.compile(settings.token_pattern).findall
    stop = frozenset(settings.stop_words) if settings.stop_words is not None else None

    def words(text: str) -> list[str]:
        tokens = find_tokens(preprocess(text))
        if stop is not None:
            tokens = [token for token in tokens if token not in stop]
        return tokens if (low, high) == (1, 1) else _word_grams(tokens, low, high)

    return words


@dataclass(frozen=True)
class TermWeighting:
    """How term counts become the classifier's inputs (the TF-IDF transform)."""

    binary: bool
    sublinear_tf: bool
    norm: str | None


class LinearTextModel:
    """TF-IDF features and a binary logistic regression over them, scored text by text in plain
    Python: tens of microseconds per short text. The arithmetic is `TfidfTransformer` followed by
    `LogisticRegression.predict_proba` (binary), summed in the order the terms first appear."""

    def __init__(
        self,
        settings: AnalyzerSettings,
        weighting: TermWeighting,
        terms: Sequence[str],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: float,
    ) -> None:
        if weighting.norm not in ("l1", "l2", None):
            raise UnusableForm(f"unsupported norm {weighting.norm!r}")
        if not (len(terms) == len(idf) == len(coef)):
            raise UnusableForm(f"{len(terms)} terms but {len(idf)} idf weights and {len(coef)} coefficients")
        if not (np.isfinite(idf).all() and np.isfinite(coef).all() and math.isfinite(intercept)):
            raise UnusableForm("the weights are not all finite numbers")
        self.settings, self.weighting = settings, weighting
        self.analyze = make_analyzer(settings)
        self.terms = list(terms)
        self.vocabulary = {term: column for column, term in enumerate(self.terms)}
        if len(self.vocabulary) != len(self.terms) or not all(isinstance(t, str) for t in self.terms):
            raise UnusableForm("the terms are not distinct strings")
        self.idf = array("d", np.asarray(idf, dtype=np.float64).tolist())
        self.coef = array("d", np.asarray(coef, dtype=np.float64).tolist())
        self.intercept = float(intercept)

    def decision(self, text: str) -> float:
        counts: dict[int, int] = {}
        vocabulary = self.vocabulary
        for term in self.analyze(text):
            column = vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        binary, sublinear, norm = self.weighting.binary, self.weighting.sublinear_tf, self.weighting.norm
        dot = scale = 0.0
        for column, count in counts.items():
            tf = 1.0 if binary else float(count)
            if sublinear:
                tf = math.log(tf) + 1.0
            value = tf * self.idf[column]
            dot += value * self.coef[column]
            scale += value * value if norm == "l2" else abs(value)
        if norm == "l2" and scale > 0:
            dot /= math.sqrt(scale)
        elif norm == "l1" and scale > 0:
            dot /= scale
        return dot + self.intercept

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """(n, 2) probabilities of the classifier's two classes, in its `classes_` order."""
        rows = []
        for text in texts:
            decision = self.decision(text)
            if decision >= 0:
                positive = 1.0 / (1.0 + math.exp(-decision))
            else:
                exp = math.exp(decision)
                positive = exp / (1.0 + exp)
            rows.append((1.0 - positive, positive))
        return np.array(rows, dtype=np.float64).reshape(len(rows), 2)


def save(model: LinearTextModel, folder: Path) -> None:
    document = {
        "format": FORMAT,
        "analyzer": {**asdict(model.settings), "ngram_range": list(model.settings.ngram_range)},
        "tf": asdict(model.weighting),
        "intercept": model.intercept,
        "terms": model.terms,
    }
    (folder / LINEAR_FILE).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    np.save(folder / IDF_FILE, np.asarray(model.idf, dtype=np.float64), allow_pickle=False)
    np.save(folder / COEF_FILE, np.asarray(model.coef, dtype=np.float64), allow_pickle=False)


def _vector(path: Path) -> np.ndarray:
    values = np.load(path, allow_pickle=False)
    if values.dtype != np.float64 or values.ndim != 1:
        raise UnusableForm(f"{path.name} holds {values.dtype} of shape {values.shape}, not a float64 vector")
    return values


def read(folder: Path) -> LinearTextModel:
    """The linear form saved in `folder`; `UnusableForm` if it is damaged or of an unknown format."""
    try:
        document = json.loads((folder / LINEAR_FILE).read_text(encoding="utf-8"))
        if document.get("format") != FORMAT:
            raise UnusableForm(f"{LINEAR_FILE} has format {document.get('format')!r}, not {FORMAT}")
        analyzer = document["analyzer"]
        stop_words = analyzer["stop_words"]
        settings = AnalyzerSettings(
            analyzer=analyzer["analyzer"],
            lowercase=bool(analyzer["lowercase"]),
            strip_accents=analyzer["strip_accents"],
            token_pattern=analyzer["token_pattern"],
            ngram_range=(analyzer["ngram_range"][0], analyzer["ngram_range"][1]),
            stop_words=None if stop_words is None else tuple(stop_words),
        )
        tf = document["tf"]
        weighting = TermWeighting(bool(tf["binary"]), bool(tf["sublinear_tf"]), tf["norm"])
        return LinearTextModel(
            settings,
            weighting,
            document["terms"],
            _vector(folder / IDF_FILE),
            _vector(folder / COEF_FILE),
            float(document["intercept"]),
        )
    except UnusableForm:
        raise
    except Exception as exc:  # any other failure: the files are not what `save` wrote
        raise UnusableForm(f"{type(exc).__name__}: {exc}") from None


# Where scikit-learn is loaded: the linear form of a fitted pipeline, checked against it.


def _analyzer_settings(vectorizer: Any) -> AnalyzerSettings:
    """The settings of a fitted `TfidfVectorizer`; `UnusableForm` for what this module cannot analyze."""
    if not isinstance(vectorizer.analyzer, str):
        raise UnusableForm("a callable analyzer")
    for name in ("preprocessor", "tokenizer"):
        if getattr(vectorizer, name) is not None:
            raise UnusableForm(f"a custom {name}")
    if vectorizer.input != "content":
        raise UnusableForm(f"input {vectorizer.input!r}")
    if np.dtype(vectorizer.dtype) != np.float64:
        raise UnusableForm(f"dtype {np.dtype(vectorizer.dtype)}")
    stop_words = vectorizer.get_stop_words() if vectorizer.analyzer == "word" else None
    settings = AnalyzerSettings(
        analyzer=vectorizer.analyzer,
        lowercase=bool(vectorizer.lowercase),
        strip_accents=vectorizer.strip_accents,
        token_pattern=vectorizer.token_pattern,
        ngram_range=(int(vectorizer.ngram_range[0]), int(vectorizer.ngram_range[1])),
        stop_words=None if stop_words is None else tuple(sorted(stop_words)),
    )
    problem = settings.problem()
    if problem is not None:
        raise UnusableForm(problem)
    return settings


def from_pipeline(pipeline: Any) -> LinearTextModel:
    """The linear form of a fitted `Pipeline([TfidfVectorizer, LogisticRegression])` with two classes;
    `UnusableForm` saying why for any other estimator."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if not (
        type(pipeline) is Pipeline
        and len(pipeline.steps) == 2
        and type(pipeline.steps[0][1]) is TfidfVectorizer
        and type(pipeline.steps[1][1]) is LogisticRegression
    ):
        raise UnusableForm("not a pipeline of exactly a TfidfVectorizer and a LogisticRegression")
    vectorizer, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    if len(classifier.classes_) != 2 or classifier.coef_.shape[0] != 1:
        raise UnusableForm(f"{len(classifier.classes_)} classes, not 2")
    vocabulary = vectorizer.vocabulary_
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    idf = vectorizer.idf_ if vectorizer.use_idf else np.ones(len(terms))
    return LinearTextModel(
        _analyzer_settings(vectorizer),
        TermWeighting(bool(vectorizer.binary), bool(vectorizer.sublinear_tf), vectorizer.norm),
        terms,
        np.asarray(idf, dtype=np.float64),
        np.asarray(classifier.coef_[0], dtype=np.float64),
        float(classifier.intercept_[0]),
    )


def check_texts(model: LinearTextModel, more: Iterable[str] = ()) -> list[str]:
    """The texts a linear form is checked on: `PROBE_TEXTS`, its own terms, and `more` (e.g. the
    training vocabulary of the version's drift reference, a few words per text)."""
    return [*PROBE_TEXTS, *model.terms, *more]


def disagreement(model: LinearTextModel, pipeline: Any, texts: list[str]) -> str | None:
    """Why `model` does not stand for `pipeline` on `texts` (other terms for a text, or probabilities
    further apart than AGREEMENT_TOLERANCE), or None when it does."""
    reference = pipeline.steps[0][1].build_analyzer()
    for text in texts:
        if model.analyze(text) != reference(text):
            return f"the analyzer splits {text[:60]!r} differently"
    difference = float(np.abs(model.predict_proba(texts) - pipeline.predict_proba(texts)).max())
    if not difference <= AGREEMENT_TOLERANCE:
        return f"probabilities differ by up to {difference:.3g}"
    return None


def derive(pipeline: Any, more_texts: Iterable[str] = ()) -> LinearTextModel | None:
    """The checked linear form of `pipeline`, or None (logged) when it has none or it disagrees."""
    try:
        model = from_pipeline(pipeline)
    except UnusableForm as exc:
        log.info("no linear form: %s", exc)
        return None
    problem = disagreement(model, pipeline, check_texts(model, more_texts))
    if problem is not None:
        log.warning("no linear form: it does not agree with the pipeline (%s)", problem)
        return None
    return model
