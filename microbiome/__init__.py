"""Gut-microbiome shotgun metagenomics: from raw reads to clinical reports."""

__version__ = "0.1.0"
