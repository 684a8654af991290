"""Code that runs inside the sklearn-byoc image.

Nothing here imports boto3 or docker: the image knows only the SageMaker
container contract (files under /opt/ml and environment variables).
"""
