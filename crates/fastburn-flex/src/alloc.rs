//! How the process's allocator treats the large buffers a training step frees.
//!
//! A step allocates and frees the same activation, column and gradient buffers (megabytes each)
//! every time. glibc's `malloc` serves blocks above 128 KiB (a threshold that adapts up to a few
//! MiB) with `mmap` and returns them to the OS on `free`, so the next step page-faults them in
//! again and the kernel zeroes every page. Raising the `mmap` threshold to its maximum (32 MiB)
//! and the trim threshold keeps freed memory in the heap for reuse: the kernel's `clear_page`,
//! 14% of a ResNet-18 step on digits under mimalloc, no longer shows in a profile. This replaces
//! the mimalloc crate, which compiled C at build time; measured against it on the ResNet-18 step
//! (bench/README.md), it is as fast or faster.

/// Tells glibc to keep freed buffers up to 32 MiB for reuse (no effect on other C libraries or
/// systems). Call it once at the top of a program that trains (the `fastburn` binary does for its
/// training commands; a server gains nothing from it).
///
/// ```
/// fastburn_flex::keep_freed_memory();
/// ```
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; the values are in glibc's documented
    // ranges (the mmap threshold's maximum is 32 MiB on 64-bit systems).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}
