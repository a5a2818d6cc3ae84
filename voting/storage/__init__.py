"""Storage: the interface (base.Storage) and its implementations, SQLite for embedded
mode (sqlite.py) and MySQL 8 / MariaDB with a primary and replicas (the mysql package). Their
schemas ship as package data (voting/sql, see voting.resources)."""
