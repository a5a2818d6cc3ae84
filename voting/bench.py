"""`voting bench`: placeholder until the load-test issue specifies it."""
from __future__ import annotations

import argparse
import sys


def run_bench(args: argparse.Namespace) -> int:
    print("voting bench is specified by a later issue; not implemented yet.", file=sys.stderr)
    return 2
