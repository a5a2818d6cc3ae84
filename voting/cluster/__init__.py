"""The local cluster as Python code: `voting cluster up|status|down` and test fixtures.

CLI:    up(config_path, state_dir, port, backends) -> ClusterInfo
        status(state_dir) -> dict          (DESIGN.md §7 JSON)
        down(state_dir, purge)
        format_status(status_dict) -> str  (human-readable table)
Tests:  LocalCluster(state_dir, config_path=..., port=0, backends=3, replica_durable=False)
        ReplicationSet(state_dir)           only the MariaDB primary + 2 replicas
Errors: ClusterError (one message, with the tail of the failing component's log).
"""
from .orchestrator import (DEFAULT_BACKENDS, DEFAULT_PORT, DEFAULT_STATE_DIR, ClusterInfo, LocalCluster,
                           ReplicationSet, down, format_status, status, up)
from .proc import ClusterError

__all__ = [
    "DEFAULT_BACKENDS", "DEFAULT_PORT", "DEFAULT_STATE_DIR", "ClusterError", "ClusterInfo",
    "LocalCluster", "ReplicationSet", "down", "format_status", "status", "up",
]
