"""Fixtures for the orchestration tests (voting/cluster, nginx, compose)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from voting.cluster import LocalCluster, ReplicationSet

from tests.cluster.cluster_harness import MARIADB, require_binaries, standin_argv


@pytest.fixture
def replication_set(tmp_path: Path) -> Iterator[ReplicationSet]:
    """A MariaDB primary + 2 replicas, up, torn down (and purged) after the test."""
    require_binaries(*MARIADB)
    rs = ReplicationSet(tmp_path / "rs")
    try:
        rs.up()
        yield rs
    finally:
        rs.down(purge=True)


@pytest.fixture
def standin_cluster_factory(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    """Builds LocalClusters whose backends are the stand-in server; all torn down after."""
    require_binaries(*MARIADB, "redis-server", "nginx")
    made: list[LocalCluster] = []

    def make(**kwargs: object) -> LocalCluster:
        kwargs.setdefault("backend_argv", standin_argv)
        kwargs.setdefault("db_init_argv", [])
        cluster = LocalCluster(tmp_path / f"cluster{len(made)}", **kwargs)  # type: ignore[arg-type]
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.down(purge=True)
