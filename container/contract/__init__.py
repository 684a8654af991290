"""What every command of the image shares, and nothing else.

The SageMaker container contract as this image honours it: the /opt/ml layout
(`paths`), the environment variables (`settings`), the model bundle's format
and load checks (`bundle`, `schema`), content types (`codecs`), column naming
and matching (`columns`), typed errors (`errors`), whole-or-nothing file
writes (`files`) and the capture writer's drop sidecar, which serving writes
and monitoring reads (`capture_drops`). `training`, `serving` and
`monitoring` build on this package; it imports none of them.
"""
