"""Webhook notifications of promotions: started, succeeded, failed, rolled back.

With ``[notify]`` in the config, each event is one JSON POST to the URL held by the
environment variable ``webhook_env`` (a secret: it is read when needed and never printed,
logged, stored or put in a message). The body is Slack-compatible: ``text`` for people,
``attachments[].fields`` for Slack to lay out, and the same values as plain keys
(``service``, ``version``, ``stage``, ``event``, ``result``, ``link``: the CI run) for
other receivers. Requests are retried as ``http_retry.NOTIFY`` says; a notification that
cannot be delivered is one warning and never changes what the command did or its exit code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from pipeline_kit import http_retry
from pipeline_kit.config_types import Settings
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.report.feedback import run_url

if TYPE_CHECKING:
    from pipeline_kit.model.plan import Plan
    from pipeline_kit.pipeline.promotion import Run

STARTED, SUCCEEDED, FAILED, ROLLED_BACK = "started", "succeeded", "failed", "rolled back"


class Poster(Protocol):
    """Deliver one JSON body to ``url``: None when delivered, else why not (without the URL)."""

    def __call__(self, url: str, body: Mapping[str, object]) -> str | None: ...


def http_post(
    url: str, body: Mapping[str, object], clock: http_retry.Clock = http_retry.SYSTEM_CLOCK
) -> str | None:
    """The :class:`Poster` of pipeline-kit: ``requests``, retried by ``http_retry.NOTIFY``."""
    import requests

    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    with requests.Session() as session:
        outcome = http_retry.send(
            lambda: session.post(url, data=data, headers=headers, timeout=(2, 5)),
            method="POST",
            policy=http_retry.NOTIFY,
            clock=clock,
            what="webhook",
        )
    tries = f"after {outcome.attempts} attempt(s)"
    if isinstance(outcome.result, requests.Response):
        status = outcome.result.status_code
        outcome.result.close()
        return None if 200 <= status < 300 else f"the webhook answered {status} {tries}"
    return f"the webhook could not be reached ({type(outcome.result).__name__}) {tries}"


def _checked_url(variable: str, environ: Mapping[str, str]) -> str | None:
    """The webhook URL from ``variable``; None when unset; bad input when malformed (the
    message never shows the value)."""
    url = environ.get(variable, "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid or any(ch.isspace() for ch in url):
        raise InvalidInput(
            f"{variable} is not an http:// or https:// URL ([notify] webhook_env); "
            "its value is a secret and is not shown"
        )
    return url


@dataclass
class Notifier:
    """Sends the events of one command; ``warnings``: what could not be sent, one line each."""

    url: str | None
    link: str | None
    post: Poster
    warnings: list[str] = field(default_factory=list)

    def send(self, event: str, service: str, version: str, stage: str, result: str) -> None:
        if self.url is None:
            return
        body = message(event, service, version, stage, result, self.link)
        failed = self.post(self.url, body)
        if failed is not None:
            self.warnings.append(f"notification '{event}' of {service} not sent: {failed}")

    def concluded(self, run: Run) -> None:
        """A promotion's end, from its report: succeeded, or failed (refused included)."""
        report = run.report
        stage = report.target or ""
        version = report.version or report.versions.get(stage, "")
        if run.error is None:
            self.send(SUCCEEDED, report.service or "", version, stage, f"{version} runs in {stage}")
        else:
            reason = str(run.error).splitlines()[0] if str(run.error) else "failed"
            self.send(FAILED, report.service or "", version, stage, reason)


def notifier(
    settings: Settings, environ: Mapping[str, str] | None = None, post: Poster | None = None
) -> Notifier | None:
    """The notifier of a command: None without ``[notify]``; without a URL it sends nothing
    and warns once; a malformed URL is bad input (raised before anything changes)."""
    if settings.notify is None:
        return None
    env = os.environ if environ is None else environ
    variable = settings.notify.webhook_env
    url = _checked_url(variable, env)
    hook = Notifier(url, run_url(env), post or http_post)
    if url is None:
        hook.warnings.append(f"[notify] is configured but {variable} is not set: nothing sent")
    return hook


def message(
    event: str, service: str, version: str, stage: str, result: str, link: str | None
) -> dict[str, object]:
    """The JSON body of one event (see the module)."""
    what = f"{service} {version}".strip()
    text = f"pipeline-kit: promotion of {what} to {stage} {event}"
    text += f": {result}" if result != event else ""
    if event == ROLLED_BACK:
        text = f"pipeline-kit: {what} rolled back in {stage}: {result}"
    if link:
        text += f" (<{link}|run>)"
    values = {"service": service, "version": version, "stage": stage, "event": event}
    fields = [{"title": k, "value": v, "short": True} for k, v in values.items()]
    fields.append({"title": "result", "value": result, "short": False})
    return {
        "text": text,
        "attachments": [{"fallback": text, "fields": fields, "title_link": link}],
        **values,
        "result": result,
        "link": link,
    }


def rolled_back(
    settings: Settings,
    service: str,
    version: str,
    stage: str,
    restored: str,
    environ: Mapping[str, str] | None = None,
    post: Poster | None = None,
) -> list[str]:
    """Notify that ``version`` of ``service`` was rolled back in ``stage`` to ``restored``
    (the ``rollback`` command, or a promotion that rolls back by itself); the warnings.

    Never raises: a malformed URL is a warning here, as the rollback has happened.
    """
    try:
        hook = notifier(settings, environ, post)
    except InvalidInput as exc:
        return [str(exc)]
    if hook is None:
        return []
    hook.send(ROLLED_BACK, service, version, stage, f"{restored} restored, {version} rejected")
    return hook.warnings


def rollback_of(plan: Plan, settings: Settings) -> tuple[str, str, str, str] | None:
    """(service, rolled back version, stage, restored version) of an applied rollback plan."""
    service, stage = str(plan.args.get("service", "")), str(plan.args.get("stage", ""))
    before, after = plan.before.services.get(service), plan.after.services.get(service)
    position = settings.policy.position(stage) if stage else 0
    if before is None or after is None or not before.stacks or not after.stacks:
        return None
    old, new = before.stacks[0].containers, after.stacks[0].containers
    if position >= min(len(old), len(new)):
        return None
    return service, old[position].version, stage, new[position].version
