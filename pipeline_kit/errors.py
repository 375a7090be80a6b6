"""Error classes, importable from the top of the package."""

from pipeline_kit.model.errors import (
    ConstraintFailed,
    ExternalFailure,
    InvalidInput,
    PipelineKitError,
)

__all__ = ["ConstraintFailed", "ExternalFailure", "InvalidInput", "PipelineKitError"]
