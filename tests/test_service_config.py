"""Services declared in the config: parsing, per-stage merging, every bad input (one line
with file:line, exit 2, nothing changed), secrets at deploy time, and Docker's conventions
for the local engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline_kit import config
from pipeline_kit.config import Host, ServiceDecl
from pipeline_kit.config_types import Hook, SmokeCheck, StageConfig
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.pipeline.secrets import mask, resolve
from tests.conftest import CLI, DEFAULT_CONFIG, add_webapp

Snapshot = Callable[[], str]
MARK = "# <-"  # the line a bad-input case expects in the error

FULL = """\
stages = ["prod", "qa", "dev"]

[release]
service = "webapp"

[services.webapp]  # the web application
image = "team/webapp"
stacks = 2
env = { LOG_LEVEL = "info", WORKERS = 4, DEBUG = false }
secrets = ["API_TOKEN", "DB_PASSWORD"]
volumes = ["webapp-{stage}-{stack}:/data", "cache:/cache:ro"]
command = ["/app/serve"]
memory = "256M"
cpus = 0.5
health_path = ""

[services.webapp.stages.prod]
env = { LOG_LEVEL = "warning", REGION = "eu" }
secrets = ["PROD_KEY", "API_TOKEN"]
memory = "1g"

[services.webapp.stages.dev]
volumes = []
command = []
cpus = 2

[[services.webapp.hooks]]
when = "before_switch"
command = ["/app/migrate.sh"]

[[services.webapp.hooks]]
when = "after_switch"
command = ["/app/warm.sh", "--all"]
timeout = "5m"

[[services.webapp.checks]]
path = "/"
contains = "webapp"

[services.api.stages.qa]
env = { MODE = "qa" }
"""


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: reading the config does not depend on the database."""
    return f"sqlite:///{tmp_path / 'state.db'}"


def _write(folder: Path, text: str) -> Path:
    path = folder / "pipeline-kit.toml"
    path.write_text(text)
    return path


# -- parsing and merging -----------------------------------------------------------------------


def test_full_declaration_is_parsed_and_merged_per_stage(tmp_path: Path) -> None:
    _write(tmp_path, FULL)
    settings = config.load(tmp_path, {})
    base = StageConfig(
        env=(("LOG_LEVEL", "info"), ("WORKERS", "4"), ("DEBUG", "false")),
        secrets=("API_TOKEN", "DB_PASSWORD"),
        volumes=("webapp-{stage}-{stack}:/data", "cache:/cache:ro"),
        command=("/app/serve",),
        memory="256m",
        cpus=0.5,
    )
    prod = StageConfig(
        env=(("LOG_LEVEL", "warning"), ("WORKERS", "4"), ("DEBUG", "false"), ("REGION", "eu")),
        secrets=("API_TOKEN", "DB_PASSWORD", "PROD_KEY"),
        volumes=base.volumes,
        command=base.command,
        memory="1g",
        cpus=0.5,
    )
    dev = StageConfig(env=base.env, secrets=base.secrets, memory="256m", cpus=2.0)
    webapp = ServiceDecl(
        name="webapp",
        image="team/webapp",
        stacks=2,
        base=base,
        stages=(("prod", prod), ("dev", dev)),
        hooks=(
            Hook("before_switch", ("/app/migrate.sh",), 120.0, line=27),
            Hook("after_switch", ("/app/warm.sh", "--all"), 300.0, line=31),
        ),
        checks=(SmokeCheck("/", 200, "webapp", line=36),),
        health_path="",
        line=6,
    )
    api = ServiceDecl(
        name="api", image="api", stages=(("qa", StageConfig(env=(("MODE", "qa"),))),), line=40
    )
    assert settings.services == (webapp, api)
    assert settings.declared("webapp") == webapp
    assert settings.declared("nope") is None
    assert (webapp.at("prod"), webapp.at("qa"), webapp.at("dev")) == (prod, base, dev)
    assert settings.release.image == "team/webapp"  # [release] service names it, no image


def test_release_image_and_defaults(tmp_path: Path) -> None:
    _write(tmp_path, '[release]\nservice = "web"\n\n[services.web]\n')
    settings = config.load(tmp_path, {})
    assert settings.release.image == "web"
    assert settings.services == (ServiceDecl(name="web", image="web", line=4),)
    _write(tmp_path, '[release]\nservice = "web"\nimage = "x/web"\n\n[services.web]\n')
    assert config.load(tmp_path, {}).release.image == "x/web"  # [release] image wins
    assert config.load(tmp_path, {}).services[0].image == "web"


def test_a_stage_may_turn_a_variable_into_a_secret(tmp_path: Path) -> None:
    _write(tmp_path, '[services.db]\nenv = { PASSWORD = "dev", A = "1" }\n'
           '[services.db.stages.prod]\nsecrets = ["PASSWORD"]\n')  # fmt: skip
    (decl,) = config.load(tmp_path, {}).services
    assert (decl.at("prod").env, decl.at("prod").secrets) == ((("A", "1"),), ("PASSWORD",))
    assert decl.at("dev").env == (("PASSWORD", "dev"), ("A", "1"))


def test_environment_overrides_a_declared_service(tmp_path: Path) -> None:
    _write(tmp_path, "[services.my-app]\nstacks = 1\n")
    environ = {"PIPELINE_KIT_SERVICES__MY_APP__STACKS": "3"}
    (decl,) = config.load(tmp_path, environ).services
    assert (decl.name, decl.stacks) == ("my-app", 3)


def test_services_in_pyproject_with_lines(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.pipeline-kit.services.web]\nstacks = 2\n\n'
        '[[tool.pipeline-kit.services.web.checks]]\npath = "/ok"\n'
    )
    (decl,) = config.load(tmp_path, {}).services
    assert (decl.line, decl.checks) == (4, (SmokeCheck("/ok", line=7),))
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pipeline-kit.services.web]\n\n[[tool.pipeline-kit.services.web.checks]]\n"
        "status = 99\n"
    )
    with pytest.raises(InvalidInput, match=r"pyproject\.toml:4: services\.web\.checks\.0\.status"):
        config.load(tmp_path, {})


# -- bad input: one line with file:line, exit 2, nothing changed ----------------------------------

SVC, STAGE = "[services.webapp]\n", "[services.webapp.stages.{}]\n"
HOOKS, CHECKS = "[[services.webapp.hooks]]\n", "[[services.webapp.checks]]\n"
HOOK = HOOKS + 'when = "before_switch"\ncommand = ["/app/migrate.sh"]\n'
AFTER = HOOKS + 'when = "after_switch"\n'
FORM = "expected NAME:/path or NAME:/path:ro"
BAD = [  # (the config's end, with "# <-" on the line the error names; words of the error)
    (SVC + "port = 8080  # <-\n", "services.webapp.port: unknown key"),
    (STAGE.format("prod") + "replicas = 2  # <-\n", "stages.prod.replicas: unknown key"),
    (HOOK + HOOK + "retries = 3  # <-\n", "services.webapp.hooks.1.retries: unknown key"),
    (CHECKS + 'header = "x"  # <-\n', "checks.0.header: unknown key"),
    (AFTER + 'command = "/app/migrate.sh"  # <-\n', "hooks.0.command: expected a list of str"),
    (AFTER + 'command = ["/app/run", 1]  # <-\n', "hooks.0.command: expected a list of strings"),
    (AFTER + "command = []  # <-\n", "hooks.0.command: expected a command: a non-empty list"),
    (
        HOOKS + 'when = "before_deploy"  # <-\ncommand = ["/app/migrate.sh"]\n',
        "hooks.0.when: expected one of 'before_switch', 'after_switch'",
    ),
    (HOOKS[:-1] + '  # <-\ncommand = ["/app/migrate.sh"]\n', "hooks.0.when: required"),
    (HOOK + 'timeout = "0s"  # <-\n', "hooks.0.timeout: expected a duration above 0"),
    ('[services.webapp.hooks]  # <-\nwhen = "after_switch"\n', "expected a list of tables"),
    (SVC + 'volumes = ["/srv/data:/data"]  # <-\n', "host path '/srv/data:/data' refused"),
    (SVC + 'volumes = ["./data:/data"]  # <-\n', "host path './data:/data' refused"),
    (SVC + 'volumes = ["~/data:/data"]  # <-\n', "host path '~/data:/data' refused"),
    (SVC + 'volumes = ["data"]  # <-\n', FORM),
    (SVC + 'volumes = ["data:/data:rw"]  # <-\n', FORM),
    (SVC + 'volumes = ["data:data"]  # <-\n', FORM),
    (SVC + 'volumes = ["data-{env}:/d"]  # <-\n', FORM),
    (STAGE.format("qa") + 'volumes = ["/tmp:/t"]  # <-\n', "stages.qa.volumes: host path"),
    (CHECKS + "status = 700  # <-\n", "expected an integer from 100 to 599, not 700"),
    (CHECKS + "status = 99  # <-\n", "expected an integer from 100 to 599, not 99"),
    (CHECKS + 'path = "health"  # <-\n', "a path starting with /"),
    (SVC + 'env = { log_level = "x" }  # <-\n', "invalid variable name 'log_level'"),
    (SVC + 'env = { "LOG-LEVEL" = "x" }  # <-\n', "invalid variable name 'LOG-LEVEL'"),
    (SVC + "env = { RATIO = 0.5 }  # <-\n", "RATIO: expected a string, an integer"),
    (SVC + 'secrets = ["api-token"]  # <-\n', "invalid variable name 'api-token'"),
    (SVC + 'secrets = "API_TOKEN"  # <-\n', "expected a list of variable names"),
    (SVC + 'secrets = ["PIPELINE_KIT_X"]  # <-\n', "PIPELINE_KIT_X is reserved"),
    (
        SVC + 'env = { API_TOKEN = "x" }  # <-\nsecrets = ["API_TOKEN"]\n',
        "services.webapp.env: API_TOKEN in env and in secrets",
    ),
    (
        SVC + 'secrets = ["API_TOKEN"]\n' + STAGE.format("qa") + 'env = { API_TOKEN = "x" } # <-\n',
        "services.webapp.stages.qa.env: API_TOKEN in env and in secrets",
    ),
    ("[services.webapp.stages.staging]  # <-\nenv = {}\n", "unknown stage 'staging'"),
    ("[services.Web_App]  # <-\nstacks = 1\n", "invalid service name 'Web_App'"),
    (SVC + "stacks = 0  # <-\n", "stacks: expected an integer from 1 to 64"),
    (SVC + 'image = "Team/Web App"  # <-\n', "invalid image 'Team/Web App'"),
    (SVC + 'memory = "lots"  # <-\n', "memory: expected a size such as '256m'"),
    (SVC + "cpus = 0  # <-\n", "cpus: expected a number of CPUs above 0"),
    (SVC + "cpus = 65  # <-\n", "cpus: expected a number of CPUs above 0"),
    (SVC + 'command = "serve"  # <-\n', "command: expected a list of strings"),
    (SVC + 'health_path = "health"  # <-\n', "health_path: expected a path"),
]


@pytest.mark.parametrize(("snippet", "words"), BAD)
def test_bad_service_declaration_is_one_line_exit_2_nothing_changed(
    project: Path, cli: CLI, snapshot: Snapshot, snippet: str, words: str
) -> None:
    assert add_webapp(cli, "v0.1.0").code == 0
    before, shown = snapshot(), cli("show", "services", "--json").out
    text = DEFAULT_CONFIG + "\n" + snippet
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if row.endswith(MARK))
    _write(project, text)
    result = cli("promote", "webapp", "v0.2.0", "--to", "dev")
    assert result.code == 2, result.err
    message = result.err.strip()
    assert "\n" not in message
    assert f"pipeline-kit.toml:{line}: " in message
    assert words in message
    _write(project, DEFAULT_CONFIG)
    assert snapshot() == before
    assert cli("show", "services", "--json").out == shown


def test_override_of_an_undeclared_service_is_refused(
    project: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_KIT_SERVICES__GHOST__STACKS", "2")
    result = cli("show", "services")
    assert result.code == 2
    message = result.err.strip()
    assert "\n" not in message
    assert "PIPELINE_KIT_SERVICES__GHOST__STACKS: service 'ghost' is not declared" in message


# -- secrets -------------------------------------------------------------------------------------

SECRETS = """\
stages = ["prod", "qa", "dev"]

[services.webapp]
secrets = ["API_TOKEN"]

[services.webapp.stages.prod]
secrets = ["PROD_KEY"]
"""


@pytest.fixture
def declared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, SECRETS)
    return config.load(tmp_path, {})


def _decl(settings: config.Settings) -> ServiceDecl:
    decl = settings.declared("webapp")
    assert decl is not None
    return decl


def test_secrets_from_the_environment_and_from_files(
    declared: config.Settings, tmp_path: Path
) -> None:
    decl = _decl(declared)
    assert resolve(declared, decl, "qa", {"API_TOKEN": "t0ken-value"}) == {
        "API_TOKEN": "t0ken-value"
    }
    key = tmp_path / "prod.key"
    key.write_text("line one\nline two\n\n")
    environ = {"API_TOKEN": "t0ken-value", "PROD_KEY_FILE": str(key), "UNUSED": "x"}
    assert resolve(declared, decl, "prod", environ) == {
        "API_TOKEN": "t0ken-value",
        "PROD_KEY": "line one\nline two\n",  # one trailing newline stripped
    }
    both = {"API_TOKEN": "from-env", "API_TOKEN_FILE": str(key)}
    assert resolve(declared, decl, "dev", both) == {"API_TOKEN": "from-env"}
    empty = {"API_TOKEN": "", "API_TOKEN_FILE": str(key)}  # empty counts as unset
    assert resolve(declared, decl, "dev", empty) == {"API_TOKEN": "line one\nline two\n"}


def test_unset_secret_names_variable_and_line_never_a_value(declared: config.Settings) -> None:
    decl = _decl(declared)
    with pytest.raises(InvalidInput) as caught:
        resolve(declared, decl, "prod", {"API_TOKEN": "t0ken-value"})
    assert str(caught.value) == (
        "secret PROD_KEY of service webapp (pipeline-kit.toml:7) is not set: "
        "set PROD_KEY (or PROD_KEY_FILE) in the runner's environment"
    )
    with pytest.raises(InvalidInput) as caught:
        resolve(declared, decl, "qa", {"API_TOKEN": ""})
    assert str(caught.value).startswith(
        "secret API_TOKEN of service webapp (pipeline-kit.toml:4) is not set: set API_TOKEN"
    )


def test_unreadable_or_empty_secret_file(declared: config.Settings, tmp_path: Path) -> None:
    decl = _decl(declared)
    missing = tmp_path / "missing.txt"
    with pytest.raises(InvalidInput) as caught:
        resolve(declared, decl, "qa", {"API_TOKEN_FILE": str(missing)})
    message = str(caught.value)
    assert message.startswith("secret API_TOKEN of service webapp (pipeline-kit.toml:4)")
    assert f"cannot read API_TOKEN_FILE={missing}" in message
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfesecret-bytes")
    with pytest.raises(InvalidInput) as caught:
        resolve(declared, decl, "qa", {"API_TOKEN_FILE": str(binary)})
    assert f"API_TOKEN_FILE={binary}" in str(caught.value)
    assert "secret-bytes" not in str(caught.value)
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    with pytest.raises(InvalidInput, match=r"API_TOKEN_FILE=.*empty\.key names an empty file"):
        resolve(declared, decl, "qa", {"API_TOKEN_FILE": str(empty)})


def test_mask_hides_every_value() -> None:
    text = "token abcd1234 then abcd and key\nBEGIN\nKEYDATA\nEND, ab stays"
    masked = mask(text, ["abcd", "abcd1234", "BEGIN\nKEYDATA\nEND", "ab", ""])
    assert masked == "token *** then *** and key\n***, ab stays"
    assert mask("a multi\nline PART-TWO alone", ["line one\nPART-TWO"]) == (
        "a multi\nline *** alone"
    )
    assert mask("nothing here", []) == "nothing here"


# -- Docker's conventions for the local engine -----------------------------------------------------


def _hosts(folder: Path, text: str, environ: dict[str, str]) -> tuple[str, tuple[Host, ...]]:
    _write(folder, text)
    runtime = config.load(folder, environ).runtime
    return runtime.kind, runtime.hosts


def test_docker_host_unix_socket(tmp_path: Path) -> None:
    docker = 'runtime = "docker"\n'
    assert _hosts(tmp_path, docker, {}) == (
        "docker",
        (Host("local", "unix:///var/run/docker.sock", "127.0.0.1"),),
    )
    environ = {"DOCKER_HOST": "unix:///run/user/1000/docker.sock", "DOCKER_TLS_VERIFY": "1"}
    assert _hosts(tmp_path, docker, environ)[1] == (
        Host("local", "unix:///run/user/1000/docker.sock", "127.0.0.1"),
    )


def test_docker_host_tcp_with_tls(tmp_path: Path) -> None:
    docker = 'runtime = "docker"\n'
    environ = {
        "DOCKER_HOST": "tcp://10.1.2.3:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": "/etc/docker-certs",
    }
    certs = "/etc/docker-certs/"
    assert _hosts(tmp_path, docker, environ)[1] == (
        Host(
            "local",
            "tcp://10.1.2.3:2376",
            "10.1.2.3",
            tls=True,
            tls_ca=certs + "ca.pem",
            tls_cert=certs + "cert.pem",
            tls_key=certs + "key.pem",
        ),
    )
    verify_only = {"DOCKER_HOST": "tcp://docker.example:2376", "DOCKER_TLS_VERIFY": "1"}
    (host,) = _hosts(tmp_path, docker, {**verify_only, "HOME": "/home/ci"})[1]
    assert (host.address, host.tls, host.tls_ca) == (
        "docker.example",
        True,
        "/home/ci/.docker/ca.pem",
    )
    (host,) = _hosts(tmp_path, docker, {"DOCKER_HOST": "tcp://127.0.0.1:2375"})[1]
    assert (host.address, host.tls, host.tls_cert) == ("127.0.0.1", False, None)


def test_docker_conventions_only_for_explicit_docker_without_hosts(tmp_path: Path) -> None:
    environ = {"DOCKER_HOST": "tcp://10.1.2.3:2376"}
    assert _hosts(tmp_path, "", environ) == ("none", ())  # the default stays "none"
    configured = 'runtime = "docker"\n\n[[hosts]]\nname = "a"\nurl = "ssh://deploy@a.example"\n'
    assert _hosts(tmp_path, configured, environ) == (
        "docker",
        (Host("a", "ssh://deploy@a.example"),),
    )
    assert _hosts(tmp_path, "", {**environ, "PIPELINE_KIT_RUNTIME": "docker"})[1][0].url == (
        "tcp://10.1.2.3:2376"
    )


def test_bad_docker_host_is_bad_input(tmp_path: Path) -> None:
    _write(tmp_path, 'runtime = "docker"\n')
    with pytest.raises(InvalidInput, match=r"DOCKER_HOST\.url: expected a unix://"):
        config.load(tmp_path, {"DOCKER_HOST": "npipe:////./pipe/docker_engine"})
