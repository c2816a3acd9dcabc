"""One Logger, Tracer and Metrics for every function; the service name comes from the environment."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# X-Ray subsegments for every HTTP call (S3 through happypath.s3_objects); botocore is patched with the first boto3
# client (aws.py), not here: its patch imports botocore's client machinery, which the resize function never loads.
tracer = Tracer(patch_modules=["httplib"])
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE, one per stack (template.yaml)
