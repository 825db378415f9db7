"""The `cbdc` command: thin click commands over node/ and the gRPC API."""
