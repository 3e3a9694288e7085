//! roomcast on AWS (in progress).
