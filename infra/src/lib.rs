//! roomcast infra tooling (in progress).
