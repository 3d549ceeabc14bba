"""The sentiment model's API contract: texts in, `negative` / `positive` out.

Data: Sentiment Labelled Sentences (Kotzias 2015, UCI, CC BY 4.0), see
`model_store/_data/sentiment-labelled-sentences/SOURCES.md`; how it is trained: `training.py`.
"""

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
