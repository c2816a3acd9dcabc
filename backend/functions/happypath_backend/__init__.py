"""API and notifier functions (one SAM CodeUri). Handlers stay thin; logic is in places.py and uploads.py."""
