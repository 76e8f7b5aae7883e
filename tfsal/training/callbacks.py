"""Keras callbacks of the training package: one wall-clock stop (``time_budget``) for every trainer."""
import time

import keras

__all__ = ["Deadline"]


class Deadline(keras.callbacks.Callback):
    """Stops ``fit`` at the end of the first batch after ``seconds`` have passed since the callback was made.

    Made at the start of a run, it counts everything the run does before ``fit`` too (pseudo-labelling, the hint
    stage); made just before ``fit`` it counts the fit alone (:func:`tfsal.training.train_deepgaze2`).

    Args:
        seconds: the budget in seconds; ``None`` never stops.

    Example:
        >>> clock = Deadline(None)
        >>> clock.expired()
        False
    """

    def __init__(self, seconds=None):
        super().__init__()
        self.seconds, self.start = seconds, time.time()

    def expired(self):
        """True once the budget is spent (never with ``seconds=None``)."""
        return self.seconds is not None and time.time() - self.start > float(self.seconds)

    def on_train_batch_end(self, batch, logs=None):
        if self.expired():
            self.model.stop_training = True
