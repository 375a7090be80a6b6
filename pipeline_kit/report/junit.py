"""JUnit XML per stage: ``DIR/pipeline-kit-<stage>.xml``, one testsuite, a testcase per check."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from pipeline_kit.model.constraints import APPROVAL
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.report.results import Report, Result

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def file_name(stage: str) -> str:
    """``pipeline-kit-<stage>.xml`` (``#3`` and other odd stage names made file-safe)."""
    return f"pipeline-kit-{_SAFE.sub('_', stage)}.xml"


def _told(result: Result) -> bool:
    """Whether the testcase carries the result's message as its output."""
    approval = result.name == APPROVAL and result.status == "passed"
    return bool(result.message) and (result.kind == "hook" or approval)


def _case(report: Report, result: Result) -> TestCase:
    case = TestCase(
        name=f"{result.kind} {result.name}",
        classname=f"pipeline-kit.{report.command}.{result.stage}",
        elapsed_sec=result.duration,
        file=result.file,
        line=result.line,
        # A hook's last output lines (secrets masked), whatever its outcome; what a passed
        # approval gate passed with.
        stdout=result.message if _told(result) else None,
    )
    if result.status == "failed":
        case.add_failure_info(message=result.message, failure_type=result.name)
    elif result.status == "error":
        case.add_error_info(message=result.message, error_type=result.name)
    elif result.status == "skipped":
        case.add_skipped_info(message=result.message)
    return case


def render(report: Report, stage: str, results: list[Result]) -> str:
    """One stage's results as a JUnit document."""
    properties = {
        "command": report.command,
        "stage": stage,
        "service": report.service or "",
        "version": report.versions.get(stage) or report.version or "",
        "commit": report.commit or "",
    }
    suite = TestSuite(
        name=f"pipeline-kit {report.command} {stage}",
        test_cases=[_case(report, r) for r in results],
        properties={k: v for k, v in properties.items() if v},
    )
    text: str = to_xml_report_string([suite], prettyprint=True, encoding="utf-8")
    return text


def write(report: Report, folder: Path) -> list[Path]:
    """Write one file per stage into ``folder`` (created), atomically; the paths written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create --junit-dir {folder}: {exc.strerror}") from None
    written = []
    for stage, results in report.by_stage().items():
        path = folder / file_name(stage)
        handle, tmp = tempfile.mkstemp(dir=folder, prefix=".pipeline-kit-", suffix=".xml")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(render(report, stage, results))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(path)
    return written
