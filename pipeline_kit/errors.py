"""The errors of pipeline-kit, importable from the top of the package.

The model's own (bad input, refusals) live in ``model.errors``; a failing external system is
the adapters' and the pipeline's business, not the model's.
"""

from pipeline_kit.model.errors import (
    ConstraintFailed,
    InvalidInput,
    PipelineKitError,
    Refused,
)


class ExternalFailure(PipelineKitError):
    """An external system (database, docker, registry, GitHub, HAProxy) failed (exit 3)."""

    exit_code = 3


__all__ = ["ConstraintFailed", "ExternalFailure", "InvalidInput", "PipelineKitError", "Refused"]
