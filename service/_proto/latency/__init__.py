"""Generated gRPC stubs (``python -m service gen-stubs``); do not edit by hand."""
