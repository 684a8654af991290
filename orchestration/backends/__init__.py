"""Where the lifecycle runs: `local` (Docker on this machine) or `aws` (SageMaker)."""
