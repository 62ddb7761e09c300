//! gRPC over HTTP/2: length-prefixed messages. (Filled by the HTTP/2 work.)
