"""The examples in the public docstrings run and print what they say (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

#: Modules whose docstrings carry ``>>>`` examples; a module that gains examples joins here.
MODULES = ["hparam_lists.greedy", "hparam_lists.evaluate", "hparam_lists.crossval"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert result.attempted > 0, f"{name} has no examples: take it off MODULES"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
