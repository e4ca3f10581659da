"""Datasets, annotation-format readers and synthetic data for hfvid."""
