"""Optional: baseline with AWS's own Model Monitor analyzer instead of our image.

`DefaultModelMonitor.suggest_baseline` (SageMaker Python SDK 2.x) runs AWS's
closed-source analyzer as a processing job and writes statistics.json and
constraints.json in the same format our `baseline` command writes, so either
can feed the `monitor` schedule. Useful to cross-check our statistics against
AWS's on the same data. The SDK is imported only here, only when asked.
"""

from __future__ import annotations

import warnings
from typing import Any

from orchestration.aws.errors import aws_call

V2_NOTICE = r".*SageMaker Python SDK v2"


def suggest_baseline_with_aws_analyzer(
    boto_session: Any,
    sagemaker_client: Any,
    role_arn: str,
    dataset_uri: str,
    output_uri: str,
    job_name: str,
    instance_type: str = "ml.m5.xlarge",
    wait: bool = True,
) -> dict[str, Any]:
    """Start (and by default wait for) AWS's baseline job; returns its description."""
    with warnings.catch_warnings():
        # The 2.x SDK is a deliberate choice (3.x dropped these classes); its
        # "path of deprecation" notice says nothing a user can act on here.
        warnings.filterwarnings("ignore", message=V2_NOTICE)
        import sagemaker
        from sagemaker.model_monitor import DefaultModelMonitor
        from sagemaker.model_monitor.dataset_format import DatasetFormat

        session = sagemaker.Session(
            boto_session=boto_session,
            sagemaker_client=sagemaker_client,
            default_bucket=output_uri.split("/")[2],
        )
        monitor = DefaultModelMonitor(
            role=role_arn,
            instance_count=1,
            instance_type=instance_type,
            sagemaker_session=session,
        )
        with aws_call(f"running AWS's baseline analyzer job {job_name}"):
            monitor.suggest_baseline(
                baseline_dataset=dataset_uri,
                dataset_format=DatasetFormat.csv(header=True),
                output_s3_uri=output_uri,
                job_name=job_name,
                wait=wait,
                logs=False,
            )
            return sagemaker_client.describe_processing_job(ProcessingJobName=job_name)
