"""A contract-test GitHub REST server on 127.0.0.1, driven by GitHub's own OpenAPI description.

``GitHubContractServer`` loads the vendored subset ``tests/support/github/openapi-subset.json``
(regenerate it with ``scripts/vendor_github_openapi.py``) and serves its operations from a
``ThreadingHTTPServer`` in a daemon thread. Every request is checked against the contract:

* the route (method + path template; 404 ``Not Found`` otherwise, recorded as a violation),
* ``Authorization: Bearer <token>`` or ``token <token>`` with the expected token (401),
* ``Accept: application/vnd.github+json`` and ``X-GitHub-Api-Version: 2022-11-28``,
* path and query parameters against their schemas (unknown query parameters refused),
* the JSON body against the requestBody schema (OpenAPI 3.0 ``nullable`` understood; unknown
  properties refused, so a misspelt field is caught) and GitHub's documented limits that the
  schema leaves out (140-character status descriptions, 64 KB annotation messages, ...).

A request that breaks the contract gets GitHub's 422 ``Validation Failed`` and is recorded in
``server.violations``. Answers are built from the documented example of the response, overlaid
with real data (ids, the posted fields), and are validated against the response schema too (a
mismatch is a bug of this server, also recorded in ``violations``).

State for assertions: ``statuses``, ``deployments``, ``check_runs``, ``comments``, and
``requests`` (every request as received, headers included). ``fail_next`` injects faults:
rate limits, 5xx, missing permissions; ``drop_next`` closes connections without an answer.
The function-scoped ``github_server`` fixture yields a started server and, at teardown, stops
it and asserts that ``violations`` is empty::

    from tests.support import github_server as github_support
    from tests.support.github_server import GitHubContractServer

    github_server = github_support.github_server  # the fixture (or import it in a conftest.py)

    def test_status(github_server: GitHubContractServer) -> None:
        server = github_server
        with GitHub(server.url, server.expected_token, server.repository) as gh:
            gh.create_status("a" * 40, "success", "ci/test", "ok")
        assert github_server.statuses[0]["body"]["state"] == "success"
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
import json
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
import pytest

__all__ = [
    "API_VERSION",
    "SUBSET",
    "GitHubContractServer",
    "RecordedRequest",
    "github_server",
    "openapi_schema_to_json_schema",
]

SUBSET = Path(__file__).with_name("github") / "openapi-subset.json"
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
DOCS_URL = "https://docs.github.com/rest"
#: Keywords of OpenAPI 3.0 schemas that are not JSON Schema (dropped before validation).
OPENAPI_ONLY = frozenset(
    {"nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs", "example",
     "deprecated"}
)  # fmt: skip
SUCCESS = (200, 201, 202)
_DROP = 0  # the status of a fault that closes the connection without an answer


def openapi_schema_to_json_schema(schema: Any, *, strict: bool = False) -> Any:
    """Translate an OpenAPI 3.0 schema to JSON Schema (draft 4, the dialect 3.0 builds on).

    ``nullable: true`` becomes a ``"null"`` type (or an ``anyOf`` with null around a ``$ref``
    or a combinator); OpenAPI-only keywords and ``x-*`` extensions are dropped. ``strict``
    refuses unknown properties in objects that list theirs (for request bodies; combinator
    branches are left open, they are partial views of the same object).
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {
                name: openapi_schema_to_json_schema(sub, strict=strict)
                for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties", "not"):
            out[key] = openapi_schema_to_json_schema(value, strict=strict)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [openapi_schema_to_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if schema.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif kind is None:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class _Fault:
    method: str
    template: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass(frozen=True)
class _Parameter:
    name: str
    location: str
    required: bool
    schema: dict[str, Any]
    validator: jsonschema.protocols.Validator


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    operation_id: str
    pattern: re.Pattern[str]
    parameters: dict[str, _Parameter]
    body: jsonschema.protocols.Validator | None
    body_required: bool
    responses: dict[int, jsonschema.protocols.Validator]
    examples: dict[int, list[Any]]


@dataclass
class _Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _Invalid(Exception):
    """The request breaks the contract (answered 422, recorded as a violation)."""


class _NotFound(Exception):
    """No such resource (answered 404, not a violation: GitHub answers so too)."""


class _Spec:
    """The vendored OpenAPI subset, compiled to validators per operation."""

    def __init__(self, path: Path) -> None:
        self.document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        components = self.document["components"]
        self.schemas = {
            name: openapi_schema_to_json_schema(schema)
            for name, schema in components["schemas"].items()
        }
        self.operations: list[_Operation] = []
        for template, item in self.document["paths"].items():
            for method, op in item.items():
                self.operations.append(self._operation(method.upper(), template, op))

    def resolve(self, node: Any) -> Any:
        """Follow ``$ref`` to components until a concrete object."""
        while isinstance(node, dict) and "$ref" in node:
            _, _, kind, name = node["$ref"].split("/")
            node = self.document["components"][kind][name]
        return node

    def validator(self, schema: Any, *, strict: bool = False) -> jsonschema.protocols.Validator:
        """A draft-4 validator of ``schema`` in which ``#/components/schemas/...`` resolve."""
        converted = openapi_schema_to_json_schema(schema, strict=strict)
        root = {"components": {"schemas": self.schemas}, "allOf": [converted]}
        return jsonschema.Draft4Validator(root)

    def _operation(self, method: str, template: str, op: dict[str, Any]) -> _Operation:
        parameters: dict[str, _Parameter] = {}
        for raw in op.get("parameters", []):
            param = self.resolve(raw)
            schema = openapi_schema_to_json_schema(param.get("schema", {}))
            parameters[param["name"]] = _Parameter(
                name=param["name"],
                location=param["in"],
                required=bool(param.get("required", False)),
                schema=schema,
                validator=jsonschema.Draft4Validator(schema),
            )

        def segment(match: re.Match[str]) -> str:
            name = match.group(1)
            multi = any(
                self.resolve(raw).get("x-multi-segment") and self.resolve(raw)["name"] == name
                for raw in op.get("parameters", [])
            )
            return f"(?P<{name}>{'.+' if multi else '[^/]+'})"

        literal = re.split(r"(\{[^}]+\})", template)
        pattern = "".join(
            re.sub(r"\{([^}]+)\}", segment, part) if part.startswith("{") else re.escape(part)
            for part in literal
        )
        body = op.get("requestBody")
        body_validator = None
        if body is not None:
            schema = body["content"]["application/json"]["schema"]
            body_validator = self.validator(schema, strict=True)
        responses: dict[int, jsonschema.protocols.Validator] = {}
        examples: dict[int, list[Any]] = {}
        for code, raw in op["responses"].items():
            media = self.resolve(raw).get("content", {}).get("application/json")
            if media is None or not code.isdigit():
                continue
            responses[int(code)] = self.validator(media["schema"])
            examples[int(code)] = [
                self.resolve(example)["value"] for example in media.get("examples", {}).values()
            ]
        return _Operation(
            method=method,
            template=template,
            operation_id=op["operationId"],
            pattern=re.compile(pattern),
            parameters=parameters,
            body=body_validator,
            body_required=bool(body and body.get("required")),
            responses=responses,
            examples=examples,
        )


def _error(message: str, status: int) -> dict[str, str]:
    return {"message": message, "documentation_url": DOCS_URL, "status": str(status)}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_error(validator: jsonschema.protocols.Validator, instance: Any) -> str | None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    where = error.json_path.replace("$.allOf[0]", "$")
    message = error.message if len(error.message) <= 300 else error.message[:299] + "…"
    return f"{message} (at {where})"


class GitHubContractServer:
    """GitHub's REST API for the operations of the vendored subset; see the module docstring."""

    def __init__(
        self,
        *,
        expected_token: str | None = None,
        repository: str = "octo-org/webapp",
        spec: Path = SUBSET,
    ) -> None:
        self.expected_token = expected_token or f"ghs_contract{secrets.token_hex(16)}"
        self.repository = repository
        self.spec = _Spec(spec)
        self.violations: list[str] = []
        self.requests: list[RecordedRequest] = []
        self.statuses: list[dict[str, Any]] = []
        self.deployments: dict[int, dict[str, Any]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> GitHubContractServer:
        """Listen on 127.0.0.1 on a free port and serve in a daemon thread."""
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GitHubContractServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API base URL, ``http://127.0.0.1:PORT``."""
        if self._httpd is None:
            raise RuntimeError("the GitHub contract server is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- test helpers ----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        template: str,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests of that operation with ``status`` instead.

        ``template`` is the path template of the OpenAPI description, e.g.
        ``"/repos/{owner}/{repo}/statuses/{sha}"``. The body defaults to GitHub's error shape.
        The request is still authenticated and validated first; nothing is changed.
        """
        method = method.upper()
        if not any(op.method == method and op.template == template for op in self.spec.operations):
            raise ValueError(f"no operation {method} {template} in the vendored subset")
        if body is None:
            body = _error(HTTPStatus(status).phrase, status)
        with self._lock:
            self._faults.append(_Fault(method, template, status, body, dict(headers or {}), times))

    def drop_next(self, method: str, template: str, times: int = 1) -> None:
        """Read the next ``times`` requests of that operation, then close without answering.

        A dropped connection after the request arrived: the client cannot know whether GitHub
        acted on it. The request is recorded; nothing is changed.
        """
        self.fail_next(method, template, 500, times=times)
        with self._lock:
            fault = self._faults[-1]
            self._faults[-1] = _Fault(fault.method, fault.template, _DROP, None, {}, times)

    def add_comment(self, issue_number: int, body: str) -> int:
        """Add a comment directly to the state (e.g. other people's comments); its id."""
        with self._lock:
            comment_id = next(self._ids)
            self.comments.setdefault(issue_number, []).append({"id": comment_id, "body": body})
            return comment_id

    def requests_to(self, method: str, template: str) -> list[RecordedRequest]:
        """The recorded requests that matched the operation ``method template``."""
        found = []
        for request in self.requests:
            op = self._route(request.method, urlsplit(request.path).path)
            if op is not None and op[0].method == method.upper() and op[0].template == template:
                found.append(request)
        return found

    # -- request handling (called from the handler threads) -------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: str) -> _Answer:
        """The answer to one request; records it, its violations and its effects."""
        with self._lock:
            self.requests.append(RecordedRequest(method, target, dict(headers), raw))
            try:
                return self._handle(method, target, headers, raw)
            except _NotFound:
                return _Answer(404, _error("Not Found", 404))

    def _violation(self, text: str) -> None:
        self.violations.append(text)

    def _route(self, method: str, path: str) -> tuple[_Operation, dict[str, str]] | None:
        for op in self.spec.operations:
            match = op.pattern.fullmatch(path)
            if op.method == method and match:
                return op, {name: unquote(value) for name, value in match.groupdict().items()}
        return None

    def _handle(self, method: str, target: str, headers: Mapping[str, str], raw: str) -> _Answer:
        split = urlsplit(target)
        lowered = {name.lower(): value for name, value in headers.items()}
        scheme, _, token = lowered.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self.expected_token:
            return _Answer(401, _error("Bad credentials", 401))
        routed = self._route(method, split.path)
        if routed is None:
            self._violation(f"{method} {split.path}: no such operation in the GitHub API subset")
            raise _NotFound
        op, path_params = routed
        where = f"{method} {op.template}"
        try:
            params = self._check(op, path_params, split.query, lowered)
            body = self._check_body(op, raw, lowered)
        except _Invalid as exc:
            self._violation(f"{where}: {exc}")
            answer: _Answer = _Answer(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": op.operation_id, "code": "invalid", "message": str(exc)}
                    ],
                    "documentation_url": DOCS_URL,
                },
            )
            self._check_response(op, answer)
            return answer
        if f"{params['owner']}/{params['repo']}".lower() != self.repository.lower():
            raise _NotFound
        for fault in self._faults:
            if fault.method == method and fault.template == op.template and fault.times > 0:
                fault.times -= 1
                return _Answer(fault.status, copy.deepcopy(fault.body), dict(fault.headers))
        name = "_op_" + op.operation_id.replace("/", "_").replace("-", "_")
        answer = getattr(self, name)(op, params, body)
        self._check_response(op, answer)
        return answer

    def _check(
        self, op: _Operation, path_params: dict[str, str], query: str, headers: dict[str, str]
    ) -> dict[str, Any]:
        accept = [part.split(";")[0].strip() for part in headers.get("accept", "").split(",")]
        if MEDIA_TYPE not in accept:
            raise _Invalid(f"Accept must include {MEDIA_TYPE}, got {headers.get('accept')!r}")
        if headers.get("x-github-api-version") != API_VERSION:
            version = headers.get("x-github-api-version")
            raise _Invalid(f"X-GitHub-Api-Version must be {API_VERSION}, got {version!r}")
        values: dict[str, Any] = {}
        raw_query = parse_qs(query, keep_blank_values=True)
        for name in raw_query:
            param = op.parameters.get(name)
            if param is None or param.location != "query":
                raise _Invalid(f"unknown query parameter {name!r}")
        for param in op.parameters.values():
            if param.location == "path":
                text: str | None = path_params[param.name]
            elif param.location == "query":
                found = raw_query.get(param.name)
                if found is not None and len(found) > 1:
                    raise _Invalid(f"query parameter {param.name!r} given {len(found)} times")
                text = found[0] if found else None
            else:
                continue
            if text is None:
                if param.required:
                    raise _Invalid(f"missing {param.location} parameter {param.name!r}")
                continue
            value: Any = text
            if param.schema.get("type") == "integer":
                if not re.fullmatch(r"-?[0-9]+", text):
                    raise _Invalid(
                        f"{param.location} parameter {param.name}={text!r}: not an integer"
                    )
                value = int(text)
            problem = _first_error(param.validator, value)
            if problem:
                raise _Invalid(f"{param.location} parameter {param.name}={text!r}: {problem}")
            values[param.name] = value
        return values

    def _check_body(self, op: _Operation, raw: str, headers: dict[str, str]) -> Any:
        if op.body is None:
            if raw:
                raise _Invalid("this operation takes no request body")
            return None
        if not raw:
            if op.body_required:
                raise _Invalid("missing JSON request body")
            return None
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise _Invalid(
                f"Content-Type must be application/json, got {headers.get('content-type')!r}"
            )
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _Invalid(f"request body is not JSON: {exc}") from None
        problem = _first_error(op.body, body)
        if problem:
            raise _Invalid(f"request body: {problem}")
        broken = next(_limits(op.operation_id, body), None)
        if broken:
            raise _Invalid(f"request body: {broken}")
        return body

    def _check_response(self, op: _Operation, answer: _Answer) -> None:
        validator = op.responses.get(answer.status)
        if validator is None and answer.status == 422:
            validator = self.spec.validator({"$ref": "#/components/schemas/validation-error"})
        if validator is None:
            if answer.status in SUCCESS:
                self._violation(
                    f"server bug: {op.operation_id} answered undocumented {answer.status}"
                )
            return
        problem = _first_error(validator, answer.body)
        if problem:
            self._violation(f"server bug: {op.operation_id} {answer.status} answer: {problem}")

    # -- operations ------------------------------------------------------------------------

    def _base(self, op: _Operation, status: int) -> Any:
        """A copy of the first documented example of that answer, to overlay with real data."""
        return copy.deepcopy(op.examples[status][0])

    def _repo_url(self) -> str:
        return f"{self.url}/repos/{self.repository}"

    def _op_repos_create_commit_status(
        self, op: _Operation, params: dict[str, Any], body: dict[str, Any]
    ) -> _Answer:
        status_id = next(self._ids)
        sha = params["sha"]
        self.statuses.append({"id": status_id, "sha": sha, "body": body})
        data = self._base(op, 201)
        data.update(
            id=status_id,
            node_id=f"SC_{status_id}",
            url=f"{self._repo_url()}/statuses/{sha}",
            state=body["state"],
            description=body.get("description"),
            target_url=body.get("target_url"),
            context=body.get("context", "default"),
            created_at=_now(),
            updated_at=_now(),
        )
        return _Answer(201, data, {"Location": data["url"]})

    def _check_run(self, op: _Operation, status: int, run_id: int) -> dict[str, Any]:
        run = self.check_runs[run_id]
        merged = dict(run["body"])
        output = dict(merged.get("output", {}))
        for patch in run["patches"]:
            merged.update({key: value for key, value in patch.items() if key != "output"})
            output.update({k: v for k, v in patch.get("output", {}).items() if k != "annotations"})
        state = merged.get("status") or ("completed" if merged.get("conclusion") else "queued")
        data: dict[str, Any] = self._base(op, status)
        url = f"{self._repo_url()}/check-runs/{run_id}"
        data.update(
            id=run_id,
            node_id=f"CR_{run_id}",
            name=merged["name"],
            head_sha=merged["head_sha"],
            url=url,
            html_url=f"https://github.com/{self.repository}/runs/{run_id}",
            details_url=merged.get("details_url"),
            external_id=merged.get("external_id"),
            status=state,
            conclusion=merged.get("conclusion") if state == "completed" else None,
            started_at=merged.get("started_at", run["created_at"]),
            completed_at=merged.get("completed_at", _now()) if state == "completed" else None,
            output={
                "title": output.get("title"),
                "summary": output.get("summary"),
                "text": output.get("text"),
                "annotations_count": len(run["annotations"]),
                "annotations_url": f"{url}/annotations",
            },
            pull_requests=[],
        )
        return data

    def _op_checks_create(
        self, op: _Operation, params: dict[str, Any], body: dict[str, Any]
    ) -> _Answer:
        run_id = next(self._ids)
        annotations = list(body.get("output", {}).get("annotations", []))
        self.check_runs[run_id] = {
            "body": body,
            "patches": [],
            "annotations": annotations,
            "created_at": _now(),
        }
        return _Answer(201, self._check_run(op, 201, run_id))

    def _op_checks_update(
        self, op: _Operation, params: dict[str, Any], body: dict[str, Any]
    ) -> _Answer:
        run = self.check_runs.get(params["check_run_id"])
        if run is None:
            raise _NotFound
        run["patches"].append(body)
        run["annotations"].extend(body.get("output", {}).get("annotations", []))
        return _Answer(200, self._check_run(op, 200, params["check_run_id"]))

    def _comment(self, op: _Operation, status: int, issue: int, comment: dict[str, Any]) -> Any:
        data = self._base(op, status)
        if isinstance(data, list):
            data = data[0]
        data.update(
            id=comment["id"],
            node_id=f"IC_{comment['id']}",
            url=f"{self._repo_url()}/issues/comments/{comment['id']}",
            html_url=f"https://github.com/{self.repository}/pull/{issue}#issuecomment-{comment['id']}",
            issue_url=f"{self._repo_url()}/issues/{issue}",
            body=comment["body"],
        )
        return data

    def _op_issues_list_comments(
        self, op: _Operation, params: dict[str, Any], body: None
    ) -> _Answer:
        issue = params["issue_number"]
        comments = self.comments.get(issue, [])
        per_page = min(max(params.get("per_page", 30), 1), 100)
        page = max(params.get("page", 1), 1)
        chunk = comments[(page - 1) * per_page : page * per_page]
        last = max((len(comments) + per_page - 1) // per_page, 1)
        links = []

        def link(number: int, rel: str) -> str:
            query = urlencode({"per_page": per_page, "page": number})
            return f'<{self._repo_url()}/issues/{issue}/comments?{query}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        data = [self._comment(op, 200, issue, comment) for comment in chunk]
        return _Answer(200, data, {"Link": ", ".join(links)} if links else {})

    def _op_issues_create_comment(
        self, op: _Operation, params: dict[str, Any], body: dict[str, Any]
    ) -> _Answer:
        issue = params["issue_number"]
        comment = {"id": next(self._ids), "body": body["body"]}
        self.comments.setdefault(issue, []).append(comment)
        data = self._comment(op, 201, issue, comment)
        return _Answer(201, data, {"Location": data["url"]})

    def _op_issues_update_comment(
        self, op: _Operation, params: dict[str, Any], body: dict[str, Any]
    ) -> _Answer:
        for issue, comments in self.comments.items():
            for comment in comments:
                if comment["id"] == params["comment_id"]:
                    comment["body"] = body["body"]
                    return _Answer(200, self._comment(op, 200, issue, comment))
        raise _NotFound

    def _op_repos_create_deployment(
        self, op: _Operation, params: dict[str, Any], body: dict[str, Any]
    ) -> _Answer:
        deployment_id = next(self._ids)
        ref = body["ref"]
        sha = ref if re.fullmatch(r"[0-9a-f]{40}", ref) else hashlib.sha1(ref.encode()).hexdigest()  # noqa: S324
        self.deployments[deployment_id] = {"id": deployment_id, "body": body, "statuses": []}
        environment = body.get("environment", "production")
        url = f"{self._repo_url()}/deployments/{deployment_id}"
        data = self._base(op, 201)
        data.update(
            id=deployment_id,
            node_id=f"DE_{deployment_id}",
            url=url,
            sha=sha,
            ref=ref,
            task=body.get("task", "deploy"),
            payload=body.get("payload", {}),
            environment=environment,
            original_environment=environment,
            description=body.get("description", ""),
            transient_environment=body.get("transient_environment", False),
            production_environment=body.get("production_environment", environment == "production"),
            statuses_url=f"{url}/statuses",
            repository_url=self._repo_url(),
            created_at=_now(),
            updated_at=_now(),
        )
        return _Answer(201, data, {"Location": url})

    def _op_repos_create_deployment_status(
        self, op: _Operation, params: dict[str, Any], body: dict[str, Any]
    ) -> _Answer:
        deployment = self.deployments.get(params["deployment_id"])
        if deployment is None:
            raise _NotFound
        status_id = next(self._ids)
        deployment["statuses"].append(body)
        deployment_url = f"{self._repo_url()}/deployments/{deployment['id']}"
        log_url = body.get("log_url", body.get("target_url", ""))
        data = self._base(op, 201)
        data.update(
            id=status_id,
            node_id=f"DES_{status_id}",
            url=f"{deployment_url}/statuses/{status_id}",
            state=body["state"],
            description=body.get("description", ""),
            environment=body.get(
                "environment", deployment["body"].get("environment", "production")
            ),
            environment_url=body.get("environment_url", ""),
            log_url=log_url,
            target_url=log_url,
            deployment_url=deployment_url,
            repository_url=self._repo_url(),
            created_at=_now(),
            updated_at=_now(),
        )
        return _Answer(201, data, {"Location": data["url"]})


def _limits(operation_id: str, body: Any) -> Iterator[str]:
    """GitHub's documented limits that the request schemas leave out."""
    if not isinstance(body, dict):
        return
    if operation_id in ("repos/create-commit-status", "repos/create-deployment-status"):
        description = body.get("description") or ""
        if len(description) > 140:
            yield f"description is too long ({len(description)} > 140 characters)"
    comment = operation_id in ("issues/create-comment", "issues/update-comment")
    if comment and len(body["body"]) > 65536:
        yield f"body is too long ({len(body['body'])} > 65536 characters)"
    completed = operation_id == "checks/create" and body.get("status") == "completed"
    if completed and "conclusion" not in body:
        yield "conclusion is required when status is completed"
    if operation_id in ("checks/create", "checks/update"):
        for index, note in enumerate(body.get("output", {}).get("annotations", [])):
            if len(note["message"].encode()) > 64 * 1024:
                yield f"annotations[{index}].message is larger than 64 KB"
            if len(note.get("title", "")) > 255:
                yield f"annotations[{index}].title is longer than 255 characters"
            if note["start_line"] < 1 or note["end_line"] < note["start_line"]:
                yield f"annotations[{index}]: lines {note['start_line']}-{note['end_line']}"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        contract: GitHubContractServer,
    ) -> None:
        self.contract = contract
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""
    timeout = 10
    disable_nagle_algorithm = True  # headers and body go in two writes: no delayed-ACK stall
    server: _HTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        headers = {name: value for name, value in self.headers.items()}
        answer = self.server.contract.handle(self.command, self.path, headers, raw)
        if answer.status == _DROP:
            self.close_connection = True
            return
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-GitHub-Api-Version-Selected", API_VERSION)
        self.send_header("X-GitHub-Request-Id", secrets.token_hex(8).upper())
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are in ``server.requests``."""


@pytest.fixture
def github_server() -> Iterator[GitHubContractServer]:
    """A started contract server; at teardown, stopped, and no contract violation allowed."""
    server = GitHubContractServer().start()
    try:
        yield server
    finally:
        server.stop()
    assert server.violations == [], "GitHub contract violations:\n" + "\n".join(server.violations)
