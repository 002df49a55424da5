"""Training-step throughput of our models against timm's equivalents, measured in one process.

Each pair runs the same number of SGD steps on the same random batch, after warm-up steps,
and the table reports images/s and the ratio ours / timm, so a claim about speed is always a
ratio against a named peer measured in the same run.

    python scripts/benchmark.py                       # CPU-sized defaults
    python scripts/benchmark.py --device cuda --batch-size 256 --image-size 224 --steps 50 --amp
"""

import argparse
import time

import timm
import torch

import senet_ablate

# (our overrides, timm name): same architecture, torchvision layout, same parameter count.
PAIRS = [
    (["model=resnet50", "model.stride_in_1x1=false", "se.enabled=false"], "resnet50"),
    (["model=resnet50", "model.stride_in_1x1=false"], "seresnet50"),
]


def images_per_second(model, args) -> float:
    device = torch.device(args.device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    images = images.contiguous(memory_format=memory_format)
    labels = torch.randint(1000, (args.batch_size,), device=device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return args.steps * args.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()

    print(f"device {args.device}, batch {args.batch_size}, {args.image_size} px, {args.steps} steps, amp={args.amp}")
    print("| ours | timm | ours img/s | timm img/s | ours / timm |\n|---|---|---:|---:|---:|")
    for overrides, peer_name in PAIRS:
        torch.manual_seed(0)
        ours = images_per_second(senet_ablate.create_model(overrides), args)
        peer = images_per_second(timm.create_model(peer_name, pretrained=False), args)
        print(f"| {' '.join(overrides)} | {peer_name} | {ours:.1f} | {peer:.1f} | {ours / peer:.3f} |")


if __name__ == "__main__":
    main()
