"""The ``pipeline-kit.toml`` that ``init`` writes in a folder with a Dockerfile: the folder's
service declared, so that the first ``pipeline-kit release`` of a tag creates and deploys it."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from pipeline_kit.model.items import check_name

_INVALID = re.compile(r"[^a-z0-9]+")
_LONGEST = 63  # the longest service name the model accepts
FALLBACK = "app"  # a folder whose name has no letter or digit


def service_name(folder: Path) -> str:
    """A valid service name made of ``folder``'s name: ``My_Web App`` → ``my-web-app``."""
    ascii_name = unicodedata.normalize("NFKD", folder.name).encode("ascii", "ignore").decode()
    name = _INVALID.sub("-", ascii_name.lower()).strip("-")
    name = name[:_LONGEST].rstrip("-") or FALLBACK
    return check_name("service", name)


def has_dockerfile(folder: Path) -> bool:
    return (folder / "Dockerfile").is_file()


def render_service_config(name: str) -> str:
    """The commented ``pipeline-kit.toml`` of a project that builds service ``name``."""
    check_name("service", name)
    return _TEMPLATE.replace("@NAME@", name)


_TEMPLATE = """\
# pipeline-kit configuration. Every value can be overridden by PIPELINE_KIT_<KEY>
# (PIPELINE_KIT_DB for the database, PIPELINE_KIT_HOSTS for the hosts,
# PIPELINE_KIT_REGISTRY__URL for the registry). Secrets never go here.
#
#   git tag v0.1.0 && pipeline-kit release
#
# builds the image of the tag, pushes it, and the first time creates the service
# declared below with every stage at that version; later tags are promoted into dev.

# Stages from the most trusted (position 0) to the least.
stages = ["prod", "qa", "dev"]
# Version order going up a stack: "non-decreasing", "increasing" or "any".
versions = "non-decreasing"
min_stacks = 1
distinct_hosts = false
database = "sqlite:///.pipeline-kit/state.db"
# Seconds to wait for another change to the same service before giving up.
lock_timeout = 30

# Containers run on Docker engines: the [[hosts]] below, else the local engine.
runtime = "docker"
# Host networking: each container gets a free port of `ports` as $PORT.
network = "host"
ports = "20000-29999"
# Each new container must answer GET health_path with 2xx ("" : Docker's HEALTHCHECK).
health_path = "/health"
health_timeout = "60s"

# [[hosts]]
# name = "local"
# url = "unix:///var/run/docker.sock"   # or tcp://HOST:2376 (tls = true), ssh://USER@HOST
# address = "127.0.0.1"                 # where this host's containers are reached

[gates.prod]
prereleases = false
# approval = true      # require 'pipeline-kit approve SERVICE VERSION --stage prod --by NAME'

# The registry images are pushed to (credentials only from PIPELINE_KIT_REGISTRY_USERNAME
# and PIPELINE_KIT_REGISTRY_PASSWORD).
# [registry]
# url = "registry.example.com"
# insecure = false     # true: plain HTTP (acceptable on 127.0.0.1 only)

[release]
service = "@NAME@"
tag_pattern = "v{semver}"  # git tag v1.2.3 → image REGISTRY/@NAME@:1.2.3
dockerfile = "Dockerfile"  # relative to `context`
context = "."

[services.@NAME@]
image = "@NAME@"           # the image repository in the registry
stacks = 1                 # identical stacks, placed round-robin on the hosts
# env = { LOG_LEVEL = "info" }
# secrets = ["DATABASE_PASSWORD"]        # names; the values come from the environment
# volumes = ["@NAME@-data-{stage}-{stack}:/data"]
# command = ["/app/serve", "--port", "8080"]   # default: the image's CMD
# memory = "256m"
# cpus = 0.5

# Overrides for one stage.
# [services.@NAME@.stages.prod]
# env = { LOG_LEVEL = "warning" }

# A one-off container of the new version before the switch (a failure undoes the change).
# [[services.@NAME@.hooks]]
# when = "before_switch"   # or "after_switch"
# command = ["/app/migrate"]
# timeout = "2m"

# A request every new container must answer before the switch.
# [[services.@NAME@.checks]]
# path = "/"
# status = 200
# contains = "@NAME@"
"""
