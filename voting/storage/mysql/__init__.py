"""Cluster storage: MariaDB / MySQL 8 with a primary and replicas (see storage.py)."""
from voting.storage.mysql.pools import decode_pos, encode_pos
from voting.storage.mysql.storage import MySQLStorage

__all__ = ["MySQLStorage", "decode_pos", "encode_pos"]
