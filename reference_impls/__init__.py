"""Reference implementations, one module per model family (the catalogue: docs/catalogue.md).

Pure PyTorch; nothing here imports :mod:`harness`. Each module exposes in ``__all__`` a frozen
config dataclass where it has one, its ``nn.Module``\\s and its functional cores by their
textbook names.
"""
