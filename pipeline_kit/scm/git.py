"""Git: find and check the release tag of a checkout (GitPython; git runs without a shell).

Tags are untrusted input (they come from CI variables and the command line): a tag must match
the configured pattern with a full SemVer 2.0 version before it is given to git, and it is
shown in messages only through ``repr``, truncated.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git
import semver

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.errors import InvalidInput

# Characters a release tag may hold (a subset of what git and Docker accept), at most 128.
_SAFE_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+/-]{0,127}")
# scheme://[userinfo@]rest: userinfo is everything up to the last '@' before the first '/'.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(?:([^/]*)@)?(.*)", re.DOTALL)
_SSH_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://")
_SHOWN = 64


@dataclass(frozen=True)
class TagInfo:
    """A release tag checked out at HEAD."""

    tag: str  # "v1.2.3"
    version: str  # the {semver} part: "1.2.3"
    commit: str  # the full sha the tag points at (peeled for annotated tags)
    created: str  # RFC 3339 UTC time of the commit (committer date)
    source: str | None  # remote "origin" URL without credentials, or None
    author: str | None = None  # the tag's tagger, else the commit's author: "Name <email>"


def _show(text: str) -> str:
    """``repr`` of untrusted text, truncated: always one line."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0][:300] if lines else "no details"


def version_of(tag: str, pattern: str = "v{semver}") -> str:
    """Validate ``tag`` against ``pattern`` (``v{semver}``) and return its SemVer part."""
    prefix, found, suffix = pattern.partition("{semver}")
    if not found or "{semver}" in suffix:
        raise InvalidInput(
            f"invalid tag pattern {_show(pattern)}: it must contain {{semver}} once, "
            "e.g. 'v{semver}'"
        )
    bad = InvalidInput(
        f"invalid tag {_show(tag)}: expected {pattern} such as {prefix}1.2.3{suffix}"
    )
    if (
        not _SAFE_TAG.fullmatch(tag)
        or len(tag) <= len(prefix) + len(suffix)
        or not tag.startswith(prefix)
        or not tag.endswith(suffix)
    ):
        raise bad
    body = tag[len(prefix) : len(tag) - len(suffix)]
    try:
        semver.Version.parse(body)
    except ValueError:
        raise bad from None
    return body


def strip_credentials(url: str) -> str | None:
    """``url`` without ``user:password@`` (and, except for ssh, without any user), or None."""
    if not url or any(ch.isspace() or not ch.isprintable() for ch in url):
        return None
    match = _URL.fullmatch(url)
    if match:
        scheme, userinfo, rest = match.groups()
        keep_user = (
            userinfo is not None
            and scheme.lower() in _SSH_SCHEMES
            and ":" not in userinfo
            and "%" not in userinfo
        )
        return f"{scheme}{userinfo}@{rest}" if keep_user else f"{scheme}{rest}"
    user, at, rest = url.partition("@")
    if at and "/" not in user and ":" in user:  # scp-like "user:secret@host:path"
        return rest
    return url


@contextmanager
def _open(repo_path: Path) -> Iterator[git.Repo]:
    try:
        repo = git.Repo(repo_path, search_parent_directories=True)
    except git.NoSuchPathError:
        raise InvalidInput(f"{repo_path} does not exist: run from a git checkout") from None
    except git.InvalidGitRepositoryError:
        raise InvalidInput(
            f"{repo_path} is not a git repository: run from a checkout of the tag"
        ) from None
    try:
        if repo.working_tree_dir is None:
            raise InvalidInput(f"{repo.git_dir} is a bare repository: run from a checkout")
        yield repo
    except git.GitCommandError as exc:
        raise ExternalFailure(f"git failed in {repo_path}: {_first_line(exc.stderr)}") from None
    finally:
        repo.close()


def _short(sha: str) -> str:
    return sha[:7]


def _requested(tag: str | None, environ: Mapping[str, str]) -> str | None:
    """The tag asked for: the argument, else GITHUB_REF (refs/tags/…), else TAG_NAME."""
    if tag is not None:
        return tag
    ref = environ.get("GITHUB_REF", "")
    if ref.startswith("refs/tags/"):
        return ref.removeprefix("refs/tags/")
    return environ.get("TAG_NAME") or None


def _tag_at_head(repo: git.Repo, head: str, pattern: str) -> str:
    """The highest-versioned tag at HEAD that matches ``pattern``."""
    found: list[tuple[semver.Version, str]] = []
    for name in repo.git.tag("--points-at", "HEAD").splitlines():
        try:
            found.append((semver.Version.parse(version_of(name, pattern)), name))
        except InvalidInput:
            continue
    if not found:
        example = pattern.replace("{semver}", "1.2.3")
        raise InvalidInput(
            f"no tag matching {pattern} at HEAD {_short(head)}: pass --tag or tag HEAD "
            f"(git tag {example})"
        )
    return max(found)[1]


def _commit_of(repo: git.Repo, name: str, where: str) -> str:
    try:
        repo.git.rev_parse("--verify", "--quiet", f"refs/tags/{name}")
    except git.GitCommandError:
        raise InvalidInput(
            f"tag {name} does not exist in {where}: create it (git tag {name}) "
            "or fetch tags (git fetch --tags)"
        ) from None
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"refs/tags/{name}^{{commit}}"))
    except git.GitCommandError:
        raise InvalidInput(f"tag {name} does not point at a commit: tag a commit") from None


def _check_clean(repo: git.Repo, where: str) -> None:
    status = repo.git.status("--porcelain=v1", "-z", "--untracked-files=no")
    entries = [entry for entry in status.split("\0") if len(entry) > 3]
    if entries:
        first = _show(entries[0][3:])
        others = f" and {len(entries) - 1} more" if len(entries) > 1 else ""
        raise InvalidInput(
            f"{where} has uncommitted changes ({first}{others}): release from a clean checkout"
        )


def _source(repo: git.Repo) -> str | None:
    try:
        url = repo.remote("origin").url
    except (ValueError, KeyError, AttributeError, configparser.Error, git.GitError):
        return None
    return strip_credentials(str(url))


def resolve_tag(
    repo_path: Path,
    tag: str | None,
    environ: Mapping[str, str],
    pattern: str = "v{semver}",
) -> TagInfo:
    """Find the release tag (argument, GITHUB_REF, TAG_NAME or HEAD) and check the checkout."""
    requested = _requested(tag, environ)
    if requested is not None:
        version_of(requested, pattern)
    with _open(repo_path) as repo:
        where = str(repo.working_tree_dir)
        try:
            head = repo.head.commit
        except ValueError:
            raise InvalidInput(f"{where} has no commits: commit and tag first") from None
        name = requested if requested is not None else _tag_at_head(repo, head.hexsha, pattern)
        commit = _commit_of(repo, name, where)
        if commit != head.hexsha:
            raise InvalidInput(
                f"tag {name} points at {_short(commit)} but HEAD is {_short(head.hexsha)}: "
                f"check out the tag (git checkout {name})"
            )
        _check_clean(repo, where)
        created = datetime.fromtimestamp(head.committed_date, tz=UTC)
        return TagInfo(
            tag=name,
            version=version_of(name, pattern),
            commit=commit,
            created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            source=_source(repo),
            author=_author(repo, name, head),
        )


def _author(repo: git.Repo, name: str, head: git.Commit) -> str | None:
    """Who released: an annotated tag's tagger, else the commit's author (``Name <email>``)."""
    try:
        tagger = repo.git.for_each_ref("--format=%(taggername) %(taggeremail)", f"refs/tags/{name}")
    except git.GitCommandError:
        tagger = ""
    if tagger.strip():
        return str(tagger).strip()[:300]
    person = head.author
    return f"{person.name} <{person.email}>"[:300] if person.name or person.email else None


def commit_of_version(repo_path: Path, version: str, pattern: str = "v{semver}") -> str | None:
    """The commit of ``version``'s release tag in a checkout, or None when there is none."""
    name = pattern.replace("{semver}", version)
    if not _SAFE_TAG.fullmatch(name):
        return None
    try:
        with _open(repo_path) as repo:
            sha = repo.git.rev_parse("--verify", "--quiet", f"refs/tags/{name}^{{commit}}")
    except (InvalidInput, ExternalFailure):
        return None
    return str(sha) or None


def version_from_git(repo_path: Path, pattern: str = "v{semver}") -> tuple[str, str]:
    """The version a checkout proposes: its tag at HEAD, else the last release tag before it.

    Returns ``(version, where)``; ``where`` says which tag it came from.
    """
    with _open(repo_path) as repo:
        where = str(repo.working_tree_dir)
        try:
            head = repo.head.commit.hexsha
        except ValueError:
            raise InvalidInput(f"{where} has no commits: commit and tag first") from None
        try:
            name = _tag_at_head(repo, head, pattern)
        except InvalidInput:
            glob = pattern.replace("{semver}", "*")
            try:
                name = str(repo.git.describe("--tags", "--abbrev=0", f"--match={glob}", "HEAD"))
            except git.GitCommandError:
                raise InvalidInput(
                    f"no tag matching {pattern} at or before HEAD {_short(head)} in {where}: "
                    "pass --version V, or fetch tags (git fetch --tags)"
                ) from None
        return version_of(name, pattern), name
