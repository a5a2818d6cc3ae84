"""Files the program reads at run time, shipped inside the package.

They are package data (setup.cfg [options.package_data]) found through
importlib.resources, so an installed wheel finds them as a checkout does:

    voting/sql/{mysql,sqlite}/schema.sql   the schema of each storage dialect
    voting/configs/{default,cluster,compose}.yml
                                           the embedded defaults (documentation), the
                                           local cluster's config (`voting cluster up`),
                                           the Compose backends' config
    voting/nginx/nginx.conf.template       nginx of the local cluster and of Compose
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def path(*parts: str) -> Path:
    """A packaged file as a file-system path (mariadb, nginx and --config need real files)."""
    res = files("voting").joinpath(*parts)
    if not isinstance(res, Path):  # a zipped install (zipimport) has no paths
        raise RuntimeError(f"voting must be installed as files, not zipped: cannot open {res}")
    return res


def schema(dialect: str) -> Path:
    """The schema of a storage dialect: "mysql" (MySQL 8 / MariaDB) or "sqlite"."""
    return path("sql", dialect, "schema.sql")


def config(name: str) -> Path:
    """A shipped config: "default", "cluster" or "compose"."""
    return path("configs", f"{name}.yml")


def nginx_template() -> Path:
    return path("nginx", "nginx.conf.template")
