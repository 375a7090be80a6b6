#!/usr/bin/env python3
"""Vendor the subset of GitHub's OpenAPI description that pipeline-kit's GitHub client uses.

The contract-test server (``tests/support/github_server.py``) validates every request of the
client against this subset and answers from its schemas and examples. The subset is committed
as ``tests/support/github/openapi-subset.json`` so the tests need no network and no
``../shared`` folder.

Regenerate it (from the repository root) with::

    python3 scripts/vendor_github_openapi.py
        # reads ../shared/github-openapi/api.github.com.json.gz

    python3 scripts/vendor_github_openapi.py path/to/api.github.com.json[.gz]
    python3 scripts/vendor_github_openapi.py path/to/octokit-openapi-23.0.2.tgz
        # the npm package ``@octokit/openapi`` (``npm pack @octokit/openapi``), whose
        # ``package/generated/api.github.com.json`` is read

    python3 scripts/vendor_github_openapi.py --check    # exit 1 when the subset is stale

What is kept: for each operation in ``OPERATIONS``, its parameters, its JSON request body
schema and its responses (schemas and response examples), plus every ``#/components/...``
entry they reference, transitively (``$ref`` are kept, not inlined). What is dropped: prose
(``description``, ``summary``, ``title``, ``externalDocs``, ``tags``), schema-level
``example`` values, request-body examples and ``x-*`` extensions other than
``x-multi-segment``. Property names, ``enum``/``default`` values and example data are never
touched. The output is deterministic (sorted keys, indent 1). Standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "github-openapi" / "api.github.com.json.gz"
DEFAULT_OUTPUT = ROOT / "tests" / "support" / "github" / "openapi-subset.json"
NPM_MEMBER = "package/generated/api.github.com.json"

#: (method, path template) of every operation the client uses.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
)

#: Keys of prose or documentation only, dropped from every object that is not data.
PROSE = frozenset({"description", "summary", "title", "externalDocs", "tags", "example"})
#: Extensions kept (the server needs them to match paths).
KEEP_EXTENSIONS = frozenset({"x-multi-segment"})
#: Keys whose value maps names (property names, codes, media types) to objects.
MAPS = frozenset(
    {"properties", "patternProperties", "schemas", "examples", "parameters", "responses",
     "headers", "content", "paths", "requestBodies"}
)  # fmt: skip
#: Keys whose value is data, copied verbatim.
DATA = frozenset({"value", "default", "enum", "required", "const", "discriminator"})


def load(source: Path) -> dict[str, Any]:
    """Read the description from a ``.json``, a ``.json.gz`` or the npm package ``.tgz``."""
    name = source.name
    if name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(source) as archive:
            member = archive.extractfile(NPM_MEMBER)
            if member is None:
                raise SystemExit(f"{source}: no {NPM_MEMBER}")
            with member:
                data: dict[str, Any] = json.load(member)
                return data
    if name.endswith(".gz"):
        with gzip.open(source, "rt", encoding="utf-8") as stream:
            data = json.load(stream)
            return data
    with source.open(encoding="utf-8") as stream:
        data = json.load(stream)
        return data


def strip(node: Any, *, is_map: bool = False) -> Any:
    """Copy ``node`` without prose; ``is_map`` when its keys are names, not keywords."""
    if isinstance(node, list):
        return [strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if is_map:
            out[key] = strip(value)
        elif key in PROSE or (key.startswith("x-") and key not in KEEP_EXTENSIONS):
            continue
        elif key in DATA:
            out[key] = value
        else:
            out[key] = strip(value, is_map=key in MAPS and isinstance(value, dict))
    return out


def refs(node: Any) -> set[str]:
    """Every ``$ref`` string in ``node``."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                found |= refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs(item)
    return found


def operation(item: dict[str, Any], method: str) -> dict[str, Any]:
    """The kept parts of one operation: parameters, JSON request body, responses."""
    source = item[method]
    op: dict[str, Any] = {"operationId": source["operationId"]}
    parameters = [*item.get("parameters", []), *source.get("parameters", [])]
    if parameters:
        op["parameters"] = strip(parameters)
    body = source.get("requestBody")
    if body is not None:
        media = body["content"]["application/json"]
        op["requestBody"] = {
            "required": body.get("required", False),
            "content": {"application/json": {"schema": strip(media["schema"])}},
        }
    op["responses"] = strip(source["responses"], is_map=True)
    return op


def subset(document: dict[str, Any]) -> dict[str, Any]:
    """The operations of ``OPERATIONS`` and the components they reference, transitively."""
    paths: dict[str, dict[str, Any]] = {}
    for method, template in OPERATIONS:
        item = document["paths"][template]
        paths.setdefault(template, {})[method] = operation(item, method)
    components: dict[str, dict[str, Any]] = {}
    pending = refs(paths)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        done.add(ref)
        parts = ref.split("/")
        if len(parts) != 4 or parts[:2] != ["#", "components"]:
            raise SystemExit(f"unsupported $ref {ref!r}")
        kind, name = parts[2], parts[3]
        entry = strip(document["components"][kind][name])
        components.setdefault(kind, {})[name] = entry
        pending |= refs(entry) - done
    info = document.get("info", {})
    return {
        "openapi": document["openapi"],
        "info": {
            "title": "GitHub REST API, subset used by pipeline-kit",
            "version": info.get("version", ""),
            "x-source": "@octokit/openapi generated/api.github.com.json",
            "x-regenerate": "python3 scripts/vendor_github_openapi.py",
        },
        "paths": paths,
        "components": components,
    }


def render(document: dict[str, Any]) -> str:
    """Deterministic JSON text of the subset."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail when the output is stale")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"no such file: {args.source}", file=sys.stderr)
        return 2
    text = render(subset(load(args.source)))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} bytes, {len(OPERATIONS)} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
