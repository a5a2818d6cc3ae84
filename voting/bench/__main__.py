"""`python -m voting.bench` = `voting bench`."""
import argparse

from voting.bench import add_arguments, run_bench

parser = argparse.ArgumentParser(prog="voting bench")
add_arguments(parser)
raise SystemExit(run_bench(parser.parse_args()))
