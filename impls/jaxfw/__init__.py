"""JAX: its modes, pipeline and record. Importing the package does not import JAX. The name
is not ``jax`` so that it can never shadow the framework's own package."""

from impls.jaxfw.framework import FRAMEWORK

__all__ = ["FRAMEWORK"]
