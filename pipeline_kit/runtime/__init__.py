"""Runtime: building, pushing and running container images on Docker engines."""
