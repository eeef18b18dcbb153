"""What needs the TensorFlow backend says so on another one (one JAX process)."""

import os
import sys

from tests.commands import run

CODE = r"""
import sys
import keras
import keras_attention.distributed as distributed

# Importing the module loads no TensorFlow; using it on JAX is refused.
print("tensorflow imported:", "tensorflow" in sys.modules)
try:
    distributed.DistributedTrainer(lambda: None, lambda epoch: None, 1)
except RuntimeError as error:
    print("trainer:", error)

from keras_attention_export import export_tflite

inputs = keras.Input((4,))
model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
try:
    export_tflite(model, sys.argv[1])
except RuntimeError as error:
    print("export:", error)
"""


def test_tensorflow_backend_features_refuse_jax_and_say_what_to_do(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done, transcript = run(
        [sys.executable, "-c", CODE, tmp_path / "m.tflite"], 300, env=env
    )
    assert done.returncode == 0, transcript
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert lines["tensorflow imported"] == "False", transcript
    assert "uses the 'jax' backend" in lines["trainer"], transcript
    assert "keras.distribution" in lines["trainer"], transcript
    assert "uses the 'jax' backend" in lines["export"], transcript
    assert "export it in a process with KERAS_BACKEND=tensorflow" in lines["export"]
    assert not (tmp_path / "m.tflite").exists()
