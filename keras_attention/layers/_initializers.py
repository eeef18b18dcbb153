"""Initializer copies for the weights and sublayers of one layer (private).

A Keras 3 initializer draws the same values at every call (an unseeded one
fixes its seed when it is made), so each weight needs its own copy; and a
copy of an initializer seeded with an int keeps that seed, so same-shaped
weights (the query, key and value kernels) would start equal. Each copy here
gets its own seed, `seed + salt`, while staying reproducible.
"""

import keras

# Salts of different sublayers are this far apart, so that the salts a
# sublayer adds for its own weights never meet another sublayer's.
SUBLAYER_SALT = 100


def clone_initializer(initializer, salt=0):
    """A fresh copy of `initializer`; an int seed becomes `seed + salt`."""
    config = keras.saving.serialize_keras_object(initializer)
    inner = config.get("config") if isinstance(config, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("seed"), int):
        config = {**config, "config": {**inner, "seed": inner["seed"] + salt}}
    return keras.initializers.get(config)
