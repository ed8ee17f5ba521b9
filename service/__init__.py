"""The gRPC server of the latency estimator (see ``python -m service --help``)."""
