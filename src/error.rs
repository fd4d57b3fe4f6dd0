//! Error plumbing shared by every layer: the boxed source of an error from an SDK or library, and the
//! one-line rendering of a whole error chain for logs and `--once`.
//!
//! Boundary modules keep their own `thiserror` enums (with `kind()` for metric labels); what they wrap
//! from AWS or a library is kept as a [`BoxError`] `#[source]`, never flattened to a string, so the chain
//! stays walkable ([`chain`]).

/// An error from an SDK or library, kept whole as the `source()` of one of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The whole error chain on one line: `a: b: c` (a cause already at the end of the text is not repeated).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let msg = inner.to_string();
        if !s.ends_with(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] BoxError);

    #[test]
    fn the_chain_reads_outer_to_inner_without_repeats() {
        let io = std::io::Error::other("disk on fire");
        assert_eq!(chain(&Outer(Box::new(io))), "outer: disk on fire");
        #[derive(Debug, thiserror::Error)]
        #[error("read failed: disk on fire")]
        struct Repeats(#[source] std::io::Error);
        assert_eq!(chain(&Repeats(std::io::Error::other("disk on fire"))), "read failed: disk on fire");
    }
}
