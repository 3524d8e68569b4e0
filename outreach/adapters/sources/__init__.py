"""Loaders for the workspace's files: YAML with node marks, CSV rows with line numbers."""
