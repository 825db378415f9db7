"""Wire format: .proto sources and the protobuf/gRPC code generated from them (committed)."""
