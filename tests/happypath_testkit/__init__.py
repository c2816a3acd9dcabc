"""Test helpers: API events built from the committed samples in events/, fake detectors, upload drivers."""
