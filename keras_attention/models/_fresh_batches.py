"""A `keras.utils.PyDataset` that draws its batches afresh every epoch (private)."""

import math

import keras
import numpy as np

from keras_attention.layers._validation import check_positive_int


class FreshBatches(keras.utils.PyDataset):
    """Rows of `token_ids` in batches, shuffled every epoch, each batch made
    by `make_batch(rows, rng)` from one generator: the orders or masks
    differ from epoch to epoch, and a seed gives the same run twice. Any
    backend: numpy arrays."""

    def __init__(self, token_ids, batch_size, shuffle, seed):
        super().__init__()
        check_positive_int("batch_size", batch_size)
        self.token_ids = np.asarray(token_ids)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._rows = np.arange(len(self.token_ids))
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.token_ids) / self.batch_size)

    def __getitem__(self, index):
        rows = self._rows[index * self.batch_size : (index + 1) * self.batch_size]
        return self.make_batch(rows, self._rng)

    def make_batch(self, rows, rng):
        """`(inputs, targets, sample_weights)` of these rows."""
        raise NotImplementedError

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._rows)
