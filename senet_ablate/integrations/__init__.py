"""Our models inside other libraries: timm's model registry, torchvision's detection heads."""
