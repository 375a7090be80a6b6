"""Tests for pipeline-kit."""
