//! Referer checks (SRS `refer`): a client's `pageUrl` must be on one of the listed domains.

/// Whether `page_url` is allowed by `domains`. An empty list allows everything. A domain
/// matches when the page URL's host ends with it (`a.com` allows `www.a.com`), as SRS's
/// `SrsRefer::check_single_refer` does.
pub fn allowed(page_url: &str, domains: &[String]) -> bool {
    if domains.is_empty() {
        return true;
    }
    let mut host = page_url;
    if let Some(i) = host.find("://") {
        host = &host[i + 3..];
    }
    if let Some(i) = host.find('/') {
        host = &host[..i];
    }
    if let Some(i) = host.find(':') {
        host = &host[..i];
    }
    domains
        .iter()
        .any(|d| !d.is_empty() && host.ends_with(d.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_match() {
        let d = vec!["github.com".to_string(), "ossrs.net".to_string()];
        assert!(allowed("http://www.github.com/x", &d));
        assert!(allowed("https://ossrs.net:8080/players", &d));
        assert!(!allowed("http://evil.com/github.com", &d));
        assert!(!allowed("", &d));
        assert!(allowed("", &[]));
    }
}
