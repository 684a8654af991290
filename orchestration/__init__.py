"""Drives the model lifecycle (prepare, train, register, deploy, baseline, monitor).

Runs on this machine (Docker) or on AWS (SageMaker through boto3); never
imported by the image.
"""
