"""Spiders of the citewatch crawler."""
