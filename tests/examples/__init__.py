"""Tests of the out-of-tree example packages under ``examples/``."""
