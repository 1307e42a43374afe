"""Installing what the local stack runs: Debian packages, and Kafka's jars from Maven Central.

Everything is idempotent: a second call finds the work done and returns at once.
Progress goes to ``out`` line by line (Maven's download lines, apt's), so a first run
on a fresh machine shows what it is waiting for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from deploy.localstack.processes import StackError

KAFKA_VERSION = "4.3.1"
"""The pinned broker. 4.4.0 is the newest release, but its POM on Maven Central names
``kafka-tools-api:4.4.0``, which Central does not have, so it cannot be resolved."""

LOG4J_VERSION = "2.25.4"
"""Kafka 4.3.1 ships log4j-core 2.25.4 but no SLF4J binding; ``log4j-slf4j-impl`` of the
same version routes the broker's SLF4J 1.7 logging into log4j2 (without it, it logs nothing)."""

# The Debian packages that provide each command the stack runs.
DEBIAN_PACKAGES = {
    "java": "openjdk-17-jre-headless",
    "mvn": "maven",
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}

Out = Callable[[str], None]

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>carewatch.localstack</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def default_cache_dir() -> Path:
    """``$CAREWATCH_CACHE``, else ``$XDG_CACHE_HOME/carewatch``, else ``~/.cache/carewatch``."""
    if "CAREWATCH_CACHE" in os.environ:
        return Path(os.environ["CAREWATCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carewatch"


def ensure_commands(commands: Sequence[str], out: Out) -> None:
    """Install the Debian packages behind any of ``commands`` not on the PATH."""
    missing = sorted({DEBIAN_PACKAGES[c] for c in commands if shutil.which(c) is None})
    if not missing:
        return
    sudo: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise StackError(
                f"need Debian packages {', '.join(missing)}; run as root or install them"
            )
        sudo = ["sudo", "-n"]
    out(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        [*sudo, "apt-get", "update"],
        [*sudo, "apt-get", "install", "-y", "--no-install-recommends", *missing],
    ):
        _run_streaming(argv, out, env=env, what="apt-get")
    still = [c for c in commands if shutil.which(c) is None]
    if still:
        raise StackError(f"after installing {missing}, still not on PATH: {still}")


def kafka_libs(cache_dir: Path, version: str = KAFKA_VERSION) -> Path:
    """The folder of Kafka ``version``'s runtime jars, fetched with Maven on first use."""
    home = cache_dir / "kafka" / version
    libs = home / "libs"
    done = home / ".complete"
    if done.exists():
        return libs
    return _fetch_kafka(home, libs, done, version)


def _fetch_kafka(home: Path, libs: Path, done: Path, version: str) -> Path:
    ensure_commands(["java", "mvn"], print)
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
    print(f"fetching Apache Kafka {version} and its runtime dependencies from Maven Central")
    argv = [
        "mvn", "-B", "-f", str(home / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]  # fmt: skip
    _run_streaming(argv, _maven_progress, what="mvn")
    jars = sorted(p.name for p in libs.glob("*.jar"))
    if f"kafka_2.13-{version}.jar" not in jars or not any("slf4j-impl" in j for j in jars):
        raise StackError(f"Maven finished but {libs} lacks the broker or the logging binding")
    done.write_text("\n".join(jars) + "\n")
    print(f"Kafka {version}: {len(jars)} jars in {libs}")
    return libs


def _maven_progress(line: str) -> None:
    if line.startswith(
        ("Downloaded from", "[INFO] Copying", "[ERROR]", "[WARNING]", "[INFO] BUILD")
    ):
        print(f"  mvn: {line}")


def _run_streaming(argv: list[str], out: Out, what: str, env: dict[str, str] | None = None) -> None:
    """Run ``argv``, handing each output line to ``out``; StackError with the tail on failure."""
    tail: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            out(line)
            tail = [*tail[-39:], line]
    if proc.returncode != 0:
        errors = [ln for ln in tail if "ERROR" in ln or "E:" in ln] or tail[-15:]
        raise StackError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(errors))
