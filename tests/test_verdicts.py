"""The one place a model's output becomes an answer: ``matnet.verdicts.verdicts`` (and ``ranked``, its top-k)."""

import numpy as np
import pytest

from matnet.errors import MatnetError
from matnet.verdicts import ranked, verdicts


def test_each_row_is_its_best_class_with_every_probability():
    classes = ("cat", "dog", "owl")
    answers = verdicts(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], np.float32), classes, "two.png")
    assert [a["label"] for a in answers] == ["dog", "cat"] and [a["class_index"] for a in answers] == [1, 0]
    assert answers[0]["probabilities"] == pytest.approx([0.1, 0.7, 0.2])
    assert all(type(p) is float for p in answers[0]["probabilities"])           # JSON-ready
    assert ranked(answers[1], classes, 2) == [("cat", pytest.approx(0.5)), ("owl", pytest.approx(0.3))]


def test_non_finite_probabilities_are_an_error_naming_the_source():
    with pytest.raises(MatnetError, match=r"^bad\.png: the model gave non-finite probabilities"):
        verdicts(np.array([[np.nan, 0.5]]), ("0", "1"), "bad.png")
