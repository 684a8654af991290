"""SageMaker emulated on this machine's Docker engine, one module per concern.

`engine` (the Docker client, labels, containers run and removed by id),
`training` (training jobs), `hosting` (endpoints and their data capture),
`processing` (processing jobs), `monitoring` (the local monitoring schedule),
`state` (the jobs and endpoints in SQLite) and `artifacts` (model.tar.gz and
the /opt/ml config files). `orchestration.backends.local.LocalBackend` glues
them into the `Backend` interface; none of them imports boto3.
"""
