//! The service worker's decisions, as plain functions.

/// Prefix of every cache this worker makes.
pub const CACHE_PREFIX: &str = "hearth-shell-";
/// The message a page sends to activate a waiting build.
pub const SKIP_WAITING: &str = "skip-waiting";

/// The cache that holds the shell of `build`.
pub fn cache_name(build: &str) -> String {
    format!("{CACHE_PREFIX}{build}")
}

/// A cache of ours that belongs to another build.
pub fn is_stale_cache(name: &str, build: &str) -> bool {
    name.starts_with(CACHE_PREFIX) && name != cache_name(build)
}

/// Whether a navigation to `path` (a URL's path, as the browser parsed
/// it) opens the app (answered with the cached shell): every one but a
/// public link's page.
pub fn is_app_navigation(path: &str) -> bool {
    path != hearth_shared::routes::SHARE_PAGE
}

/// Whether a fetched file is one the page loads on first use (the
/// `extras` module: `/extras-<hash>.js`, `/extras-<hash>.wasm`), which the
/// worker keeps in this build's cache once it has been fetched, so that
/// it works offline from then on.
pub fn keep_on_first_use(path: &str) -> bool {
    path.strip_prefix("/extras-").is_some_and(|rest| {
        !rest.contains('/') && (rest.ends_with(".js") || rest.ends_with(".wasm"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_modules_loaded_on_first_use_are_kept_when_fetched() {
        assert!(is_app_navigation("/"));
        assert!(is_app_navigation("/notes/abc"));
        assert!(is_app_navigation("/shared"));
        assert!(!is_app_navigation("/share"));
        assert!(keep_on_first_use("/extras-0123456789.wasm"));
        assert!(keep_on_first_use("/extras-0123456789.js"));
        assert!(!keep_on_first_use("/v1/workspaces/x/entries"));
        assert!(!keep_on_first_use("/extras-0123/../app.js"));
        assert!(!keep_on_first_use("/app-0123456789.wasm"));
    }

    #[test]
    fn only_older_builds_of_ours_are_stale() {
        assert!(is_stale_cache("hearth-shell-aaa", "bbb"));
        assert!(!is_stale_cache("hearth-shell-bbb", "bbb"));
        assert!(!is_stale_cache("someone-else", "bbb"));
    }
}
