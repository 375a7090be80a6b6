"""Source control: which release tag a build is for, and where its commit came from."""

from pipeline_kit.scm.git import TagInfo, resolve_tag, version_of

__all__ = ["TagInfo", "resolve_tag", "version_of"]
