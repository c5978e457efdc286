"""Taxonomic profiling: reference database, read classification, abundance, writers."""
