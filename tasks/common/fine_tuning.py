"""Fine-tuning a classifier that starts from a pretrained encoder, as ULMFiT does (Howard & Ruder 2018): gradual
unfreezing (the new head trains alone first, then one layer group more each epoch, from the top down),
discriminative learning rates (each group lower down learns `decay` times slower than the one above it), and a
slanted triangular schedule (a short linear warm-up to the peak rate, then a long linear decay). Together they keep
the pretrained weights from being washed out by the large early gradients of a randomly initialized head.

All three are functions of the optimizer's step count, so a run resumed from its backup continues the same schedule.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tasks")
class SlantedTriangular(keras.optimizers.schedules.LearningRateSchedule):
    """`peak` after a linear rise over the first `warmup_fraction` of `total_steps`, then a linear fall to
    `peak / ratio` at the end (ULMFiT's STLR: warm-up 0.1, ratio 32); flat at that floor after `total_steps`."""

    def __init__(self, peak, total_steps, warmup_fraction=0.1, ratio=32.0):
        self.peak, self.total_steps = float(peak), int(total_steps)
        self.warmup_fraction, self.ratio = float(warmup_fraction), float(ratio)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        cut = max(1.0, self.total_steps * self.warmup_fraction)
        rising = step / cut
        falling = 1.0 - (step - cut) / max(1.0, self.total_steps - cut)
        fraction = ops.clip(ops.where(step < cut, rising, falling), 0.0, 1.0)
        return self.peak * (1.0 + fraction * (self.ratio - 1.0)) / self.ratio

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_fraction": self.warmup_fraction,
                "ratio": self.ratio}


@keras.saving.register_keras_serializable(package="tasks")
class DiscriminativeAdam(keras.optimizers.Adam):
    """Adam with a learning rate and a start step per layer group.

    `groups` lists layer names from the top of the network down, one group per entry (a name or a list of names);
    a variable belongs to the group whose layer name starts its path, and variables of layers not listed belong to
    the first (top) group. Group i learns at the optimizer's rate divided by `decay ** i`, and only from step
    `i * unfreeze_steps` on (`unfreeze_steps=0`: every group from the start). Before that its learning rate is zero,
    so its weights stay exactly as pretrained while the groups above it settle."""

    def __init__(self, groups=(), decay=2.6, unfreeze_steps=0, **kwargs):
        super().__init__(**kwargs)
        self.groups = [[name] if isinstance(name, str) else list(name) for name in groups]
        self.decay, self.unfreeze_steps = float(decay), int(unfreeze_steps)

    def group_of(self, variable):
        """The index of `variable`'s layer group (0: the top, and every layer not listed)."""
        layer = variable.path.split("/")[0]
        return next((i for i, names in enumerate(self.groups) if layer in names), 0)

    def build(self, variables):
        super().build(variables)
        # update_step sees the backend's variable, which has no Keras path: look the groups up by index.
        self._variable_groups = [self.group_of(variable) for variable in variables]

    def update_step(self, gradient, variable, learning_rate):
        group = self._variable_groups[self._get_variable_index(variable)]
        factor = ops.cast(self.iterations >= group * self.unfreeze_steps, "float32") / self.decay ** group
        super().update_step(gradient, variable, ops.cast(learning_rate, "float32") * factor)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "decay": self.decay,
                "unfreeze_steps": self.unfreeze_steps}


def ulmfit_optimizer(model, *, learning_rate, epochs, steps_per_epoch, decay=2.6):
    """A DiscriminativeAdam for a zoo model started from a pretrained encoder: its groups are the head (every layer
    that is neither the embedding nor a recurrent layer), then the recurrent layers from the top down, then the
    embedding; one group more unfreezes each epoch, under a slanted triangular schedule peaking at `learning_rate`
    over `epochs` epochs."""
    recurrent = sorted((layer.name for layer in model.layers if layer.name.startswith("rnn_")),
                       key=lambda name: int(name.split("_")[1]), reverse=True)
    groups = [[layer.name for layer in model.layers if layer.name not in (*recurrent, "embedding")],
              *recurrent, "embedding"]
    schedule = SlantedTriangular(learning_rate, total_steps=epochs * steps_per_epoch)
    return DiscriminativeAdam(groups=groups, decay=decay, unfreeze_steps=steps_per_epoch, learning_rate=schedule)
