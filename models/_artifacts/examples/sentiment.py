"""Sentiment example: is a review sentence positive or negative?

Data: Sentiment Labelled Sentences (Kotzias 2015, UCI, CC BY 4.0), see
`model_store/_data/sentiment-labelled-sentences/SOURCES.md`.
"""

from pathlib import Path

import pandas as pd

from models._artifacts.spec import TEXT, ModelSpec

SPEC = ModelSpec(
    name="sentiment",
    label="Sentiment Classifier",
    kind=TEXT,
    description="Positive or negative sentiment of English review sentences (trained on 3,000 "
    "Amazon, IMDb and Yelp sentences).",
    labels=("negative", "positive"),
    examples=("The battery lasts all day, great phone.", "The food was cold and the service rude."),
)

VARIANTS = {
    "word": "TF-IDF of word 1–2-grams (sublinear tf) + logistic regression (C=10)",
    "char": "TF-IDF of character 2–5-grams within word boundaries (sublinear tf) + "
    "logistic regression (C=10)",
}


def load_frame(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "sentiment.csv", keep_default_na=False)


def build_pipeline(variant: str):
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
