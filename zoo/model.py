"""ZooModel: a functional keras.Model that remembers the builder arguments it was made from."""

import keras

from zoo.registry import get_pattern, split_config


@keras.saving.register_keras_serializable(package="zoo")
class ZooModel(keras.Model):
    """A functional model built by a registered pattern.

    `get_config()` returns the builder arguments, and `from_config` rebuilds the same graph (same layer names) from
    them, so `.keras` files reload with `keras.models.load_model` once `zoo` is imported, with no custom_objects.
    """

    def __init__(self, pattern, name=None, **config):
        input_spec, rnn_spec, options = split_config(pattern, config)
        inputs, outputs = get_pattern(pattern).builder(input_spec, rnn_spec, **options)
        super().__init__(inputs=inputs, outputs=outputs, name=name or pattern)
        self.pattern = pattern
        # As JSON will give it back (tuples become lists), so a reloaded model's config compares equal.
        self.builder_config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}

    def get_config(self):
        return {"pattern": self.pattern, "name": self.name, **self.builder_config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
