"""Pure modelling for the latency estimator: search spaces, encodings, the multi-task GP,
active sample selection, metrics and the accuracy benchmark. No gRPC, no storage."""
