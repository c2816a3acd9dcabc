"""Workflow step functions (one SAM CodeUri; Pillow lives only here). Logic in steps.py, handlers thin."""
