"""The HTTP headers of SageMaker's inference contract, and this image's own.

SageMaker passes `Content-Type`, `Accept`, the custom attributes and the
inference id through to the container; the local runner sends the same, so
each name is written here once.
"""

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
# This image's answers: the columns a request sent that the model ignores, and
# the class order of CSV probabilities.
IGNORED_COLUMNS = "X-Ignored-Columns"
CLASSES = "X-Classes"
