"""What stops a bench run: a server's answer or a worker's failure the run cannot go on from."""


class BenchError(RuntimeError):
    pass
