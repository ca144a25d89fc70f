//! CPU time, as the benchmarks read it beside wall time: on a shared machine, the time this
//! process (or thread) actually ran is a view of the work that other load does not inflate.
//! Linux `clock_gettime`; `None` elsewhere.

#[cfg(target_os = "linux")]
fn clock_seconds(clock: i32) -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to the pointer it is given.
    let rc = unsafe { clock_gettime(clock, &mut t) };
    (rc == 0).then_some(t.sec as f64 + t.nsec as f64 * 1e-9)
}

#[cfg(not(target_os = "linux"))]
fn clock_seconds(_clock: i32) -> Option<f64> {
    None
}

/// CPU seconds used by the whole process so far, all threads (`CLOCK_PROCESS_CPUTIME_ID`).
pub fn process_seconds() -> Option<f64> {
    clock_seconds(2)
}

/// CPU seconds used by the calling thread so far (`CLOCK_THREAD_CPUTIME_ID`): for
/// single-threaded timings that time another process takes from this core must not count.
pub fn thread_seconds() -> Option<f64> {
    clock_seconds(3)
}
