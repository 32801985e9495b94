//! Upper and lower case, as searches, mentions and initials need them. In the browser the
//! browser's own Unicode tables do it: Rust's case tables would add to the first load, and
//! the browser has its tables loaded anyway. On the server and in the native tests Rust's
//! do it, and both follow Unicode's default case mapping, so a page rendered on the server
//! hydrates unchanged.

/// `text` in lower case.
pub fn lower(text: &str) -> String {
    #[cfg(feature = "hydrate")]
    return js_sys::JsString::from(text).to_lower_case().into();
    #[cfg(not(feature = "hydrate"))]
    return text.to_lowercase();
}

/// `text` in upper case.
pub fn upper(text: &str) -> String {
    #[cfg(feature = "hydrate")]
    return js_sys::JsString::from(text).to_upper_case().into();
    #[cfg(not(feature = "hydrate"))]
    return text.to_uppercase();
}
