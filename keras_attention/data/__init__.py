"""Built-in data sets: generated tasks with known answers, nothing downloaded."""

from keras_attention.data import dates

__all__ = ["dates"]
