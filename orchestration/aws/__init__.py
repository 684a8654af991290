"""The AWS side of the lifecycle: small boto3 modules, one concern each.

`orchestration.backends.aws.AwsBackend` composes them into the `Backend`
interface; `registry` (SageMaker Model Registry), `monitoring` (monitoring
schedules) and `alarms` (CloudWatch alarm + SNS) serve the steps that only
exist on AWS. Request builders are plain functions returning the exact
request dictionaries, so tests check their shapes without a network.
"""
