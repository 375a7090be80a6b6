"""GitHub integration: the REST client for statuses, deployments, check runs and comments.

``pipeline_kit.github.feedback`` sends a report through it (the feedback sink).
"""

from pipeline_kit.github.client import DEFAULT_API_URL, Annotation, GitHub, GitHubError

__all__ = ["DEFAULT_API_URL", "Annotation", "GitHub", "GitHubError"]
