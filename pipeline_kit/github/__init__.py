"""GitHub integration: the REST client for statuses, deployments, check runs and comments."""

from pipeline_kit.github.client import DEFAULT_API_URL, Annotation, GitHub, GitHubError

__all__ = ["DEFAULT_API_URL", "Annotation", "GitHub", "GitHubError"]
