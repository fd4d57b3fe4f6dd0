//! Handing the memory a refresh freed back to the operating system.
//!
//! Each refresh reads a query's worth of Arrow buffers per billing period on several threads and drops
//! them. glibc keeps freed pages in per-thread arenas, so resident memory ratchets up to the sum of the
//! passes rather than the largest: with 13 months of 2,000 licences, a `--once` peaked at 442 MiB, and at
//! 347 MiB with a single arena. Trimming after each pass returns the pages (see the README's benchmarks).

/// Returns freed heap pages to the kernel (glibc); nothing elsewhere.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim(3) has no preconditions: it takes each arena's lock, gives back whole free pages,
    // and touches no memory in use. Its return value (whether anything was released) needs no handling.
    unsafe {
        libc::malloc_trim(0);
    }
}
