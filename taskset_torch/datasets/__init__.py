"""Datasets with TaskSet's four splits: TFDS, real local copies, built-in data, labelled substitutes."""
