"""DESIGN §6 durability, asserted on running servers: the primary flushes InnoDB's redo
log and syncs the binary log at every commit (innodb_flush_log_at_trx_commit=1,
sync_binlog=1); replicas may relax both. The Compose stack's nodes are checked by
tests/cluster/test_compose_stack.py."""
from __future__ import annotations

import pytest

from voting.cluster import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

DURABILITY = "SELECT @@GLOBAL.innodb_flush_log_at_trx_commit, @@GLOBAL.sync_binlog"


def test_local_cluster_primary_is_durable(local_cluster: LocalCluster) -> None:
    assert local_cluster.primary.query(DURABILITY) == [(1, 1)]


def test_local_cluster_replicas_relax_durability(local_cluster: LocalCluster) -> None:
    # The session's cluster runs with replica_durable=False: replicas flush once a second.
    for replica in local_cluster.replicas:
        assert replica.query(DURABILITY) == [(2, 0)], replica.name
