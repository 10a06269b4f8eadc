"""ImageNet names and the reference store's label → search phrase map."""

from __future__ import annotations

import numpy as np

from retrieval.vision.labels import REFERENCE_STORE_PHRASES, class_names, softmax, top_labels


def test_there_are_1000_readable_class_names() -> None:
    names = class_names()
    assert len(names) == 1000 and names[504] == "coffee mug" and names[954] == "banana"


def test_the_phrase_map_names_the_right_imagenet_classes() -> None:
    names = class_names()
    wrong = {i: (name, names[i]) for i, (name, _) in REFERENCE_STORE_PHRASES.items() if names[i] != name}
    assert wrong == {}
    assert REFERENCE_STORE_PHRASES[504][1] == "mug" and REFERENCE_STORE_PHRASES[470][1] == "candle"


def test_top_labels_are_the_most_probable_classes_in_order() -> None:
    logits = np.zeros(1000, np.float32)
    logits[[504, 968, 967]] = [5.0, 4.0, 3.0]
    labels = top_labels(logits, 3)
    assert [label.index for label in labels] == [504, 968, 967]
    assert labels[0].name == "coffee mug" and labels[0].probability > labels[1].probability
    assert abs(float(softmax(logits).sum()) - 1.0) < 1e-5
