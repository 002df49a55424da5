"""What an image folder's content fingerprint costs: the first time (every image hashed) and at a
later start (hashes cached: one stat per image), extrapolated to ImageNet.

The images are random bytes of about a JPEG's size (ImageNet averages ~110 KB) under .JPEG names:
only their bytes are read, never decoded. They are written just before being hashed, so they sit
in the page cache and the first pass measures hashing, not the disk; on a cold disk or a network
file system the first pass runs at the disk's speed when that is slower.

    python scripts/fingerprint_cost.py --images 2000
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from senet_ablate.data import fingerprint

IMAGENET_IMAGES = 1_281_167 + 50_000
IMAGENET_BYTES = 140e9


def write_images(root: Path, images: int, classes: int, size: int) -> None:
    """`images` files of `size` random bytes, split between train/ and val/, `classes` folders each."""
    for index in range(images):
        split = "train" if index % 2 == 0 else "val"
        folder = root / split / f"n{index // 2 % classes:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:08d}.JPEG").write_bytes(os.urandom(size))


def timed(data) -> float:
    """Seconds one fingerprint takes in a fresh process: the in-process memo is dropped first."""
    fingerprint._folder_listed.cache_clear()
    start = time.perf_counter()
    fingerprint.dataset_fingerprint(data)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000, help="images to generate (default 2000)")
    parser.add_argument("--classes", type=int, default=10, help="class folders per split (default 10)")
    parser.add_argument("--kb", type=int, default=110, help="size of each image in KB (default 110)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SENET_ABLATE_CACHE_DIR"] = str(Path(tmp) / "cache")  # never the user's cache
        root = Path(tmp) / "images"
        write_images(root, args.images, args.classes, args.kb * 1000)
        data = OmegaConf.create({"name": "imagefolder", "root": str(root)})
        cold, warm = timed(data), timed(data)
        cache_mb = sum(path.stat().st_size for path in Path(tmp, "cache").rglob("*.json")) / 1e6
    megabytes = args.images * args.kb / 1000
    print(f"{args.images} images of {args.kb} KB ({megabytes:.0f} MB), {os.cpu_count()} CPUs")
    rate = f"{megabytes / cold:8.0f} MB/s"
    print(f"first fingerprint (hashing):  {cold:7.2f} s  {rate}  {args.images / cold:8.0f} images/s")
    print(f"next start (hashes cached):   {warm:7.2f} s  {'':13}  {args.images / warm:8.0f} images/s")
    print(
        f"ImageNet ({IMAGENET_IMAGES:,} images, {IMAGENET_BYTES / 1e9:.0f} GB) at these rates: "
        f"{IMAGENET_BYTES / 1e6 / (megabytes / cold) / 60:.1f} min to hash once, "
        f"{IMAGENET_IMAGES / (args.images / warm):.0f} s a start after, "
        f"a cache of ~{cache_mb / args.images * IMAGENET_IMAGES:.0f} MB"
    )


if __name__ == "__main__":
    main()
