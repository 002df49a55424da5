"""Facts about the datasets that both their registration and their loaders read.

`datasets.py` registers the datasets and imports the loading modules (`imagefolder`, `places365`,
`dali`, through `fingerprint`) when it builds or fingerprints one; those modules need these
numbers too. Kept here, below both, they import nothing of ours, so that no loading module
imports `datasets.py` back (an import cycle, even where the imports are deferred).
"""

# Per-channel statistics of the training sets, by which the loader normalises their uint8 images.
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # every image folder's
CIFAR_MEAN_STD = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
PLACES_CLASSES = 365
PLACES_VARIANTS = ("challenge", "standard")  # data.variant: 8M training images (the paper's), 1.8M
