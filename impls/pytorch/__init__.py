"""PyTorch: its modes, engine, pipeline and record. Importing the package does not import torch."""

from impls.pytorch.framework import FRAMEWORK

__all__ = ["FRAMEWORK"]
