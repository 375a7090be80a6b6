"""A release's author from its image's labels, read from a real registry at ``approve`` time,
when no command recorded it (an image pushed by another tool, an imported state)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.support.registry import upload_image

Snapshot = Callable[[], str]
AUTHORS = "org.opencontainers.image.authors"
POLICY = """
[gates.prod]
approval = true
self_approval = {self_approval}
"""


def _ok(cli: CLI, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, (args, result.out, result.err)
    return result.err


def _setup(project: Path, cli: CLI, registry: str | None, self_approval: str = "false") -> None:
    """webapp 1.0.0/1.1.0/1.2.0 in prod/qa/dev, pushed by another tool (no recorded author)."""
    text = 'stages = ["prod", "qa", "dev"]\n' + POLICY.format(self_approval=self_approval)
    if registry is not None:
        text += f'\n[registry]\nurl = "{registry}"\ninsecure = true\n'
    (project / "pipeline-kit.toml").write_text(text)
    _ok(cli, "init")
    versions = ("--version", "1.0.0", "--version", "1.1.0", "--version", "1.2.0")
    _ok(cli, "service", "add", "webapp", "--image", "labels/webapp", *versions)


@pytest.fixture
def labelled(project: Path, cli: CLI, registry_url: str) -> Path:
    """1.1.0's image names Alice as its author; 1.2.0's names nobody."""
    upload_image(registry_url, "labels/webapp", "1.1.0", labels={AUTHORS: "Alice <alice@x.org>"})
    upload_image(registry_url, "labels/webapp", "1.2.0", labels={"other": "label"})
    _setup(project, cli, registry_url)
    return project


def test_the_author_in_the_image_labels_may_not_approve_it(
    labelled: Path, cli: CLI, snapshot: Snapshot
) -> None:
    before = snapshot()
    refused = cli("approve", "webapp", "1.1.0", "--stage", "prod", "--by", "alice")
    assert refused.code == 1
    assert "alice released webapp 1.1.0 and may not approve it" in refused.err
    assert snapshot() == before
    noted = _ok(cli, "approve", "webapp", "1.1.0", "--stage", "prod", "--by", "bob")
    assert f"names Alice <alice@x.org> ({AUTHORS})" in noted
    # The author read from the labels is recorded with the approval, in the history too.
    exported = json.loads(snapshot())
    assert [(a["version"], a["author"]) for a in exported["authors"]] == [
        ("1.1.0", "Alice <alice@x.org>")
    ]
    last = json.loads(cli("show", "history", "--json").out)[-1]
    assert last["args"]["author"] == "Alice <alice@x.org>"
    assert last["args"]["author_from"] == AUTHORS
    again = cli("approve", "webapp", "1.1.0", "--stage", "prod", "--by", "alice")
    assert again.code == 1 and "names Alice" not in again.err  # the record decides now
    _ok(cli, "promote", "webapp", "--to", "prod")


def test_an_image_without_an_author_label_says_so_and_counts(labelled: Path, cli: CLI) -> None:
    noted = _ok(cli, "approve", "webapp", "1.2.0", "--stage", "prod", "--by", "alice")
    lines = [line for line in noted.splitlines() if "no recorded author" in line]
    assert len(lines) == 1 and f"has no {AUTHORS} label" in lines[0]


def test_a_registry_that_does_not_answer_refuses_only_where_self_approval_is_off(
    project: Path, cli: CLI, snapshot: Snapshot
) -> None:
    _setup(project, cli, "127.0.0.1:9")  # nothing listens on the discard port
    before = snapshot()
    result = cli("approve", "webapp", "1.1.0", "--stage", "prod", "--by", "alice")
    assert result.code == 3
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: approve refused: webapp 1.1.0 has")
    assert "self_approval = false for prod cannot be checked" in lines[0]
    assert "Traceback" not in result.err
    assert snapshot() == before
    # A stage without the rule does not ask the registry.
    _ok(cli, "approve", "webapp", "1.1.0", "--stage", "qa", "--by", "alice")
    path = project / "pipeline-kit.toml"
    path.write_text(path.read_text().replace("self_approval = false", "self_approval = true"))
    assert "no recorded author" not in _ok(
        cli, "approve", "webapp", "1.1.0", "--stage", "prod", "--by", "alice"
    )


def test_without_a_registry_recorded_authors_alone_are_checked(project: Path, cli: CLI) -> None:
    _setup(project, cli, None)
    noted = _ok(cli, "approve", "webapp", "1.1.0", "--stage", "prod", "--by", "alice")
    assert (
        "webapp 1.1.0 has no recorded author and no [registry] is configured to read its "
        "image's labels: self_approval = false for prod is checked against recorded authors only"
    ) in noted
