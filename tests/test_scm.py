"""Release tags from real git repositories made with GitPython (no mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.scm import TagInfo, resolve_tag, version_of
from pipeline_kit.scm.git import strip_credentials

COMMIT_DATE = "1704157445 +0200"  # 2024-01-02T03:04:05+02:00 = 01:04:05 UTC
BAD_TAGS = [
    "v1.2",
    "latest",
    "v1.2.3;rm -rf /",
    "v01.2.3",
    "1.2.3",
    "V1.2.3",
    "",
    "v1.2.3\nv1.2.4",
    "--output=/tmp/x",
    "v1.2.3 ",
    "v1.2.3-" + "a" * 300,
    "v1.2.3$(id)",
]


def commit(repo: git.Repo, name: str = "app.txt", text: str = "hello\n") -> str:
    path = Path(str(repo.working_tree_dir)) / name
    path.write_text(text)
    repo.index.add([name])
    return repo.index.commit(f"change {name}", commit_date=COMMIT_DATE).hexsha


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[git.Repo]:
    """A repository with one commit; closed at the end of the test."""
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Tester")
        config.set_value("user", "email", "tester@example.com")
        config.set_value("tag", "gpgSign", "false")
    commit(repo)
    yield repo
    repo.close()


def path_of(repo: git.Repo) -> Path:
    return Path(str(repo.working_tree_dir))


def rejected(call: object, *args: object, **kwargs: object) -> str:
    """The one-line message of the InvalidInput that ``call(*args)`` raises."""
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert "Traceback" not in message
    return message


# --- version_of ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "version"),
    [("v1.2.3", "1.2.3"), ("v0.0.0", "0.0.0"), ("v2.0.0-rc.1+build.5", "2.0.0-rc.1+build.5")],
)
def test_version_of_returns_the_semver_part(tag: str, version: str) -> None:
    assert version_of(tag, "v{semver}") == version


@pytest.mark.parametrize("tag", BAD_TAGS)
def test_version_of_rejects_bad_tags_in_one_safe_line(tag: str) -> None:
    message = rejected(version_of, tag, "v{semver}")
    assert message.startswith("invalid tag ")
    assert message.endswith(": expected v{semver} such as v1.2.3")
    assert len(message) < 160  # the untrusted tag is truncated


def test_version_of_custom_pattern() -> None:
    assert version_of("release-1.2.3", "release-{semver}") == "1.2.3"
    assert version_of("1.2.3-rc.1-final", "{semver}-final") == "1.2.3-rc.1"
    message = rejected(version_of, "v1.2.3", "release-{semver}")
    assert message == "invalid tag 'v1.2.3': expected release-{semver} such as release-1.2.3"


def test_version_of_rejects_a_pattern_without_semver() -> None:
    assert "{semver}" in rejected(version_of, "v1.2.3", "v{version}")


# --- resolve_tag --------------------------------------------------------------------------


def test_lightweight_tag_at_head(repo: git.Repo) -> None:
    repo.create_tag("v1.2.3")
    info = resolve_tag(path_of(repo), "v1.2.3", {})
    assert info == TagInfo(
        tag="v1.2.3",
        version="1.2.3",
        commit=repo.head.commit.hexsha,
        created="2024-01-02T01:04:05Z",
        source=None,
        author="Tester <tester@example.com>",  # a lightweight tag: the commit's author
    )


def test_annotated_tag_is_peeled_to_its_commit(repo: git.Repo) -> None:
    tag = repo.create_tag("v1.2.3", message="release 1.2.3")
    assert tag.object.hexsha != repo.head.commit.hexsha  # the tag object itself
    info = resolve_tag(path_of(repo), "v1.2.3", {})
    assert info.commit == repo.head.commit.hexsha
    assert len(info.commit) == 40


def test_an_annotated_tag_names_its_tagger_as_the_author(repo: git.Repo) -> None:
    tagger = {"GIT_COMMITTER_NAME": "Alice Doe", "GIT_COMMITTER_EMAIL": "alice@example.com"}
    repo.git.tag("-a", "v1.2.3", "-m", "release 1.2.3", env=tagger)
    assert resolve_tag(path_of(repo), "v1.2.3", {}).author == "Alice Doe <alice@example.com>"


def test_works_from_a_subfolder_of_the_checkout(repo: git.Repo) -> None:
    repo.create_tag("v1.0.0")
    sub = path_of(repo) / "examples" / "webapp"
    sub.mkdir(parents=True)
    assert resolve_tag(sub, None, {}).tag == "v1.0.0"


@pytest.mark.parametrize("tag", ["v1.2", "latest", "v1.2.3;rm -rf /", "v01.2.3"])
def test_bad_tag_argument(repo: git.Repo, tag: str) -> None:
    message = rejected(resolve_tag, path_of(repo), tag, {})
    assert message == f"invalid tag {tag!r}: expected v{{semver}} such as v1.2.3"


def test_bad_tag_from_github_ref(repo: git.Repo) -> None:
    message = rejected(resolve_tag, path_of(repo), None, {"GITHUB_REF": "refs/tags/latest"})
    assert message.startswith("invalid tag 'latest'")


def test_tag_not_at_head(repo: git.Repo) -> None:
    old = repo.head.commit.hexsha
    repo.create_tag("v1.0.0", message="annotated")
    new = commit(repo, text="changed\n")
    message = rejected(resolve_tag, path_of(repo), "v1.0.0", {})
    assert message.startswith(f"tag v1.0.0 points at {old[:7]} but HEAD is {new[:7]}: check out")


def test_tag_that_does_not_exist(repo: git.Repo) -> None:
    message = rejected(resolve_tag, path_of(repo), "v9.9.9", {})
    assert message.startswith("tag v9.9.9 does not exist in ")


def test_modified_tracked_file_is_refused(repo: git.Repo) -> None:
    repo.create_tag("v1.0.0")
    (path_of(repo) / "app.txt").write_text("edited\n")
    message = rejected(resolve_tag, path_of(repo), "v1.0.0", {})
    assert "has uncommitted changes ('app.txt')" in message
    assert message.endswith(": release from a clean checkout")


def test_staged_change_is_refused(repo: git.Repo) -> None:
    repo.create_tag("v1.0.0")
    (path_of(repo) / "new.txt").write_text("staged\n")
    (path_of(repo) / "app.txt").write_text("edited\n")
    repo.index.add(["new.txt"])
    message = rejected(resolve_tag, path_of(repo), "v1.0.0", {})
    assert "uncommitted changes" in message and "and 1 more" in message


def test_untracked_files_are_fine(repo: git.Repo) -> None:
    repo.create_tag("v1.0.0")
    (path_of(repo) / "build.log").write_text("untracked\n")
    assert resolve_tag(path_of(repo), "v1.0.0", {}).version == "1.0.0"


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert "is not a git repository" in rejected(resolve_tag, plain, "v1.0.0", {})
    assert "does not exist" in rejected(resolve_tag, tmp_path / "missing", "v1.0.0", {})


def test_repository_without_commits(tmp_path: Path) -> None:
    git.Repo.init(tmp_path / "empty").close()
    assert "has no commits" in rejected(resolve_tag, tmp_path / "empty", "v1.0.0", {})


def test_no_tag_at_head(repo: git.Repo) -> None:
    repo.create_tag("latest")  # does not match the pattern
    message = rejected(resolve_tag, path_of(repo), None, {})
    assert message.startswith("no tag matching v{semver} at HEAD ")
    assert "pass --tag or tag HEAD" in message


def test_precedence(repo: git.Repo) -> None:
    for name in ("v1.0.0", "v1.1.0", "v1.2.0", "v1.9.0", "v1.10.0", "latest"):
        repo.create_tag(name, message=name) if name == "v1.1.0" else repo.create_tag(name)
    where = path_of(repo)
    env = {"GITHUB_REF": "refs/tags/v1.1.0", "TAG_NAME": "v1.2.0"}
    assert resolve_tag(where, "v1.0.0", env).tag == "v1.0.0"
    assert resolve_tag(where, None, env).tag == "v1.1.0"
    assert resolve_tag(where, None, {**env, "GITHUB_REF": "refs/heads/main"}).tag == "v1.2.0"
    assert resolve_tag(where, None, {"TAG_NAME": "v1.2.0"}).tag == "v1.2.0"
    assert resolve_tag(where, None, {"GITHUB_REF": "refs/heads/main"}).tag == "v1.10.0"
    assert resolve_tag(where, None, {"TAG_NAME": ""}).tag == "v1.10.0"


def test_highest_tag_at_head_by_semver_precedence(repo: git.Repo) -> None:
    for name in ("v1.10.0", "v2.0.0-rc.1", "v1.9.0"):
        repo.create_tag(name)
    assert resolve_tag(path_of(repo), None, {}).tag == "v2.0.0-rc.1"


def test_custom_pattern(repo: git.Repo) -> None:
    repo.create_tag("v5.0.0")
    repo.create_tag("release-1.2.3")
    info = resolve_tag(path_of(repo), None, {}, pattern="release-{semver}")
    assert (info.tag, info.version) == ("release-1.2.3", "1.2.3")
    env = {"GITHUB_REF": "refs/tags/release-1.2.3"}
    assert resolve_tag(path_of(repo), None, env, "release-{semver}").tag == "release-1.2.3"
    message = rejected(resolve_tag, path_of(repo), "v5.0.0", {}, "release-{semver}")
    assert "expected release-{semver} such as release-1.2.3" in message


def test_source_url_without_credentials(repo: git.Repo) -> None:
    repo.create_tag("v1.0.0")
    repo.create_remote("origin", "https://user:s3cret@git.example.com/org/webapp.git")
    info = resolve_tag(path_of(repo), None, {})
    assert info.source == "https://git.example.com/org/webapp.git"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://user:secret@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://x-access-token:ghs_abc@github.com/o/r", "https://github.com/o/r"),
        ("https://ghp_token@github.com/o/r", "https://github.com/o/r"),
        ("https://u:p@ss@host:8443/o/r", "https://host:8443/o/r"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("ssh://git:secret@github.com/o/r.git", "ssh://github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("user:secret@host:o/r.git", "host:o/r.git"),
        ("https://host/o/r\nsecret", None),
        ("", None),
    ],
)
def test_strip_credentials(url: str, expected: str | None) -> None:
    assert strip_credentials(url) == expected
