"""TensorFlow: its modes, engine, pipeline and record. Importing the package does not import
TensorFlow (its modules do: load TensorFlow through ``impls.tf.modes``, see there)."""

from impls.tf.framework import FRAMEWORK

__all__ = ["FRAMEWORK"]
