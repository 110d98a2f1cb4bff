//! cli: `srs-cli status|streams|clients|reload|stop`, which asks the master for its workers
//! and each worker for its stats (DESIGN.md). Empty until the process-tree issue, which
//! brings the control socket and the private APIs it talks to.
