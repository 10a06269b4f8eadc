"""Photos: an ImageNet-pretrained EfficientNet-Lite backbone (labels + embedding), photo → products for a store
without product images (labels → search phrases) and for a store with them (iconic-image index + a trained head),
training a store's own classifier, and the store of uploaded photos.

Importing this package is cheap (no torch, no onnxruntime): the gateway imports `retrieval.vision.uploads`.
"""
