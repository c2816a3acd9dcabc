"""Happy Path domain package: the one place for keys, statuses, limits, models, events and data access.

Shipped to every Lambda function as the shared layer (``backend/shared``) and imported from source by the
tests and the local runtime.
"""
