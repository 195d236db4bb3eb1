import numpy as np

from matnet.train.metrics import accuracy, confusion_matrix, correct_count, per_class

# four rows of three classes; row 3 ties classes 0 and 2 (argmax, and so the count, takes the first)
LOGITS = np.array([[2.0, 1.0, 0.5],      # class 0
                   [0.1, 0.3, 0.2],      # class 1
                   [-1.0, -2.0, -0.5],   # class 2
                   [0.7, 0.2, 0.7]])     # a tie: class 0


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


def test_correct_count_and_accuracy_by_hand_from_labels():
    # predicted 0, 1, 2, 0 against 0, 2, 2, 1: rows 0 and 2 right
    y = np.array([0, 2, 2, 1])
    assert int(correct_count(LOGITS, y)) == 2
    got = accuracy(LOGITS, y)
    assert type(got) is float and got == 0.5
    assert int(correct_count(LOGITS, np.array([0, 1, 2, 0]))) == 4 and accuracy(LOGITS, np.array([0, 1, 2, 0])) == 1.0
    assert int(correct_count(LOGITS, np.array([1, 0, 0, 1]))) == 0 and accuracy(LOGITS, np.array([1, 0, 0, 1])) == 0.0


def test_one_hot_targets_count_as_their_labels():
    y = np.eye(3)[[0, 2, 2, 1]]                              # the labels above, one-hot: the same 2 of 4
    assert int(correct_count(LOGITS, y)) == 2 and accuracy(LOGITS, y) == 0.5
    y = np.eye(3)[[1, 1, 2, 0]]                              # rows 1, 2 and 3 right: 3 of 4
    assert int(correct_count(LOGITS, y)) == 3 and accuracy(LOGITS, y) == 0.75


def test_a_tie_counts_for_the_first_of_the_tied_classes():
    tie = LOGITS[3:]
    assert int(correct_count(tie, np.array([0]))) == 1 and accuracy(tie, np.array([0])) == 1.0
    assert int(correct_count(tie, np.array([2]))) == 0 and accuracy(tie, np.array([2])) == 0.0
    assert int(correct_count(np.zeros((5, 4)), np.zeros(5, int))) == 5      # all tied: every row says class 0
