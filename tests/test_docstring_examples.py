"""The Example in every public layer's docstring runs and prints what it says."""

import doctest

import keras
import pytest

import keras_attention
from keras_attention import layers


@pytest.mark.parametrize("name", layers.__all__)
def test_docstring_example(name):
    cls = getattr(keras_attention, name)
    assert ">>>" in cls.__doc__, f"{name} has no runnable example"
    finder = doctest.DocTestFinder(recurse=False)
    globs = {"keras": keras, **{n: getattr(keras_attention, n) for n in layers.__all__}}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(cls, name, globs=globs):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0, result


def test_gap_filler_example():
    import keras_attention.gap_filler as found

    result = doctest.testmod(found, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


@pytest.mark.parametrize(
    "module",
    ["graphs", "multi30k", "ntm_tasks", "permutation_lm", "scenes", "subwords", "translation"],
)
def test_data_module_examples(module):
    import importlib

    found = importlib.import_module(f"keras_attention.data.{module}")
    result = doctest.testmod(found, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


@pytest.mark.parametrize("module", [
    "captioning", "masked_lm", "translation_models", "transformer_xl", "vision_models", "xlnet",
])
def test_model_module_examples(module):
    import importlib

    found = importlib.import_module(f"keras_attention.models.{module}")
    result = doctest.testmod(found, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
