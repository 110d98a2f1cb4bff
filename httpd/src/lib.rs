//! httpd: the SRS-compatible HTTP API, HLS, HTTP-FLV, static files and vod (DESIGN.md).
//! Empty until the HTTP issue; `http_api` and `http_server` in a config are accepted with a
//! warning and ignored for now.
