//! ipc: the shared-memory rings that carry each stream from backsource to the stream workers
//! and httpd, the control frames of the Unix-socket protocol, and descriptor passing
//! (DESIGN.md). Empty until the process-tree issue: today the whole server is one process and
//! streams live in `srs_backsource::source`.
