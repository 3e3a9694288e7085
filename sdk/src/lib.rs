//! roomcast SDK (in progress).
