"""How the sentiment model is trained (`python -m models._artifacts.train sentiment`): is a review
sentence positive or negative? Held out: a stratified random 20 % (label × source)."""

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from models._artifacts import drift
from models._artifacts.training import SEED, Trained, classification_metrics
from models.sentiment.spec import SPEC

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

DATA_FOLDER = "sentiment-labelled-sentences"
"""The training data's folder under the store's `_data/`."""
VARIANTS = {
    "word": "TF-IDF of word 1–2-grams (sublinear tf) + logistic regression (C=10)",
    "char": "TF-IDF of character 2–5-grams within word boundaries (sublinear tf) + "
    "logistic regression (C=10)",
}


def load_frame(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "sentiment.csv", keep_default_na=False)


def build_pipeline(variant: str) -> "Pipeline":
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if variant == "word":
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    else:
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    return Pipeline(
        [("tfidf", vectorizer), ("classifier", LogisticRegression(C=10.0, max_iter=2000, random_state=0))]
    )


def train(variant: str, data_dir: Path) -> Trained:
    from sklearn.model_selection import train_test_split

    frame = load_frame(data_dir)
    train_rows, test_rows = train_test_split(
        frame, test_size=0.2, random_state=SEED, stratify=frame["label"].astype(str) + frame["source"]
    )
    pipeline = build_pipeline(variant).fit(train_rows["text"].tolist(), train_rows["label"].to_numpy())
    metrics = classification_metrics(
        test_rows["label"].to_numpy(), pipeline.predict_proba(test_rows["text"].tolist())[:, 1]
    )
    return Trained(
        SPEC,
        pipeline,
        "skops",
        VARIANTS[variant],
        {"held_out": metrics, "split": f"stratified random 20 % (label × source), seed {SEED}"},
        [data_dir / "sentiment.csv"],
        len(train_rows),
        drift.text_reference(train_rows["text"].tolist()),
    )
