"""Every Keras object the recipes put inside an export's `assets.extra/model.keras` (tokenizers, preparation), and
the fine-tuning optimizer and schedule a compiled classifier may carry, registered by importing this module, so a
fresh process loads any of them with `keras.models.load_model`:

    import keras
    import tasks.layers  # noqa: F401  (registers the layers below; `zoo` registers its own on import)

    model = keras.models.load_model("saved_models/translation/1/assets.extra/model.keras")
"""

import zoo  # noqa: F401  (the networks' own layers)
from tasks.common.fine_tuning import DiscriminativeAdam, SlantedTriangular
from tasks.common.text import CharacterIds, FirstSteps
from tasks.forecasting.serving import PrepareRows, ValuesFromChanges
from tasks.sentiment.data import standardize
from tasks.sentiment.ngrams import word_pieces
from tasks.translation.subwords import SubwordIds

__all__ = ["CharacterIds", "DiscriminativeAdam", "FirstSteps", "PrepareRows", "SlantedTriangular", "SubwordIds",
           "ValuesFromChanges", "standardize", "word_pieces"]
