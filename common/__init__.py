"""Shared layer of the suite: data, preprocessing, training, distribution, monitoring, export, config, CLI."""
