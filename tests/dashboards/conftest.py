"""What the dashboards tests share: the example policy and the production build."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.build import Bundle, build
from dashboards.config import BuildConfig
from streams.policy import PolicyBook, load_policies

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_POLICY = ROOT / "deploy" / "policies.example.yaml"


@pytest.fixture(scope="session")
def book() -> PolicyBook:
    return load_policies(EXAMPLE_POLICY)


@pytest.fixture(scope="session")
def bundle(book: PolicyBook) -> Bundle:
    return build(BuildConfig(), book)
