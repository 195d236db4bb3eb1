import numpy as np

from matnet.train.metrics import confusion_matrix, per_class


def test_confusion_matrix_by_hand():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 2, 2]
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), [[1, 1, 0], [0, 2, 1], [0, 0, 1]])


def test_per_class_by_hand():
    scores = per_class(np.array([[1, 1, 0], [0, 2, 1], [0, 0, 1]]))
    np.testing.assert_allclose(scores["precision"], [1, 2 / 3, 1 / 2])
    np.testing.assert_allclose(scores["recall"], [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(scores["f1"], [2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_array_equal(scores["support"], [2, 3, 1])


def test_a_class_never_predicted_has_zero_precision():
    scores = per_class(np.array([[0, 2], [0, 3]]))
    np.testing.assert_allclose(scores["precision"], [0, 0.6])
    np.testing.assert_allclose(scores["f1"], [0, 0.75])
