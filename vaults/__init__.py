"""Credential lists and external vault providers."""
