"""One Logger, Tracer and Metrics for every function; the service name comes from the environment."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# No library patched here: botocore is patched with the first boto3 client (aws.py), as its patch loads botocore's
# client machinery, which the resize function never does; s3_objects records its own calls.
tracer = Tracer(auto_patch=False)
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE, one per stack (template.yaml)
