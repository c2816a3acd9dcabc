"""One Logger, Tracer and Metrics for every function; the service name comes from the environment."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE, one per stack (template.yaml)
