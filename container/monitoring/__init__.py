"""Model Monitor-compatible data-quality monitoring: `baseline` and `monitor`.

`baseline` profiles a dataset into SageMaker's statistics.json and suggests
constraints.json; `monitor` profiles a window of captured endpoint traffic (or
a plain dataset), compares it with a baseline and writes
constraint_violations.json, CloudWatch metric lines and a self-contained
report.html. The file formats are AWS's own, so either side can be produced
by AWS's analyzer or by this package.
"""
