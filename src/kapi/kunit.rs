// SPDX-License-Identifier: GPL-2.0

//! KUnit suites from an explicit list of case functions, on both kernels.
//!
//! C header: [include/kunit/test.h](srctree/include/kunit/test.h)
//!
//! Linux 6.12's kernel crate has no `#[kunit_tests]` attribute, nor the
//! `kernel::kunit_case!`/`kernel::kunit_unsafe_test_suite!` beneath it: they
//! arrived in 6.15. This module is the subset of `#[kunit_tests]` that
//! the project uses, in one shape for both kernels: [`kunit_suite!`] builds
//! a suite's case table, the suite and its `.kunit_test_suites` entry, which
//! the module loader hands to KUnit as it does a C module's; [`assert!`]
//! and [`assert_eq!`] report to KUnit, with their file and line, instead of
//! panicking.
//!
//! A suite is an inline `mod tests` that imports what it uses of them and
//! lists its cases, in the order KUnit runs them:
//!
//! ```ignore
//! #[cfg(CONFIG_KUNIT = "y")]
//! mod tests {
//!     use super::*;
//!     use crate::kapi::kunit::{
//!         assert,
//!         kunit_suite, //
//!     };
//!
//!     fn a_case() -> Result {
//!         assert!(true);
//!         Ok(())
//!     }
//!
//!     kunit_suite!(rudmabuf_example, [a_case]);
//! }
//! ```
//!
//! A case is a function of no arguments that returns `()` or a `Result`;
//! an error it returns fails it, with the error in the case's log, as with
//! `#[kunit_tests]`. `tools/tests/tooling.sh` checks that every such
//! function of a `mod tests` is listed: a case left out would silently not
//! run. As with `#[kunit_tests]`, a failed assertion ends the case's thread
//! without running destructors.

use core::ffi::c_void;
use core::fmt;

use kernel::ffi::{
    c_char,
    c_int, //
};

use super::bindings;

/// Builds the KUnit suite `$suite` of the listed case functions, which are
/// items of the module that invokes it; KUnit runs them in that order.
///
/// The module loader hands the suite to KUnit through its entry in the
/// `.kunit_test_suites` section, kept with `#[used(compiler)]` as `module!`
/// keeps its `.modinfo` (a plain `#[used]` also marks the section retained,
/// which can make a second section of the name). The suite's name has at
/// most 255 bytes.
macro_rules! kunit_suite {
    ($suite:ident, [$($case:ident),+ $(,)?]) => {
        /// The KUnit tables of the suite, one entry per case.
        mod $suite {
            $(
                /// The case's entry point for KUnit.
                pub(super) mod $case {
                    /// Runs the case.
                    ///
                    /// # Safety
                    ///
                    /// Called by KUnit with the test it runs the case in.
                    pub(super) unsafe extern "C" fn run(
                        test: *mut $crate::kapi::bindings::kunit,
                    ) {
                        // SAFETY: KUnit passes the test it runs the case in.
                        unsafe {
                            $crate::kapi::kunit::run(test, super::super::$case, &super::AT)
                        };
                    }
                }
            )+

            /// Where the suite's cases are listed, for a case's error.
            static AT: $crate::kapi::kunit::Location = $crate::kapi::kunit::Location::new(
                ::core::concat!(::core::file!(), "\0"),
                ::core::line!(),
            );

            /// The number of cases.
            const CASE_COUNT: usize = [$(::core::stringify!($case)),+].len();

            /// The cases, terminated by an empty entry. KUnit writes each
            /// case's status and log into its entry.
            static mut CASES: [$crate::kapi::kunit::Case; CASE_COUNT + 1] = [
                $($crate::kapi::kunit::case(
                    ::core::concat!(::core::stringify!($case), "\0"),
                    $case::run,
                ),)+
                $crate::kapi::kunit::END,
            ];

            /// The suite. KUnit writes its status and log into it.
            static mut SUITE: $crate::kapi::kunit::Suite = $crate::kapi::kunit::suite(
                ::core::stringify!($suite),
                ::core::ptr::addr_of_mut!(CASES).cast(),
            );

            /// The suite's entry in the section KUnit reads at module load.
            #[used(compiler)]
            #[link_section = ".kunit_test_suites"]
            static mut ENTRY: *mut $crate::kapi::kunit::Suite =
                ::core::ptr::addr_of_mut!(SUITE);
        }
    };
}
pub(crate) use kunit_suite;

/// Asserts that a boolean expression is `true`: if it is not, fails the
/// running KUnit case at this file and line, and ends it, as the kernel's
/// `kunit_assert!` does (whose file argument must be a literal, which a
/// `macro_rules!` cannot make of `file!()`).
macro_rules! kunit_assert {
    ($cond:expr $(,)?) => {{
        if !$cond {
            static AT: $crate::kapi::kunit::Location = $crate::kapi::kunit::Location::new(
                ::core::concat!(::core::file!(), "\0"),
                ::core::line!(),
            );
            $crate::kapi::kunit::assertion_failed(
                &AT,
                ::core::format_args!(
                    "    Expected {} to be true, but is false",
                    ::core::stringify!($cond)
                ),
            );
        }
    }};
}

/// Asserts that two expressions are equal, as [`kunit_assert!`] does for
/// `left == right`.
macro_rules! kunit_assert_eq {
    ($left:expr, $right:expr $(,)?) => {{
        $crate::kapi::kunit::kunit_assert!($left == $right);
    }};
}

// A test module's explicit import of these shadows core's macros there.
pub(crate) use kunit_assert as assert;
pub(crate) use kunit_assert;
pub(crate) use kunit_assert_eq as assert_eq;

/// A KUnit case, as in a suite's case table.
pub(crate) type Case = bindings::kunit_case;

/// A KUnit suite.
pub(crate) type Suite = bindings::kunit_suite;

/// The empty entry that ends a case table.
// SAFETY: All-zero is a valid `kunit_case` (null pointers, `None`
// functions, zero enums), KUnit's table terminator.
pub(crate) const END: Case = unsafe { core::mem::zeroed() };

/// Returns the table entry of the case `name` (NUL-terminated), run by
/// `run`, of normal speed as `#[kunit_tests]` makes it.
pub(crate) const fn case(
    name: &'static str,
    run: unsafe extern "C" fn(*mut bindings::kunit),
) -> Case {
    core::assert!(
        name.as_bytes()[name.len() - 1] == 0,
        "a case name ends with NUL"
    );
    Case {
        run_case: Some(run),
        name: name.as_ptr().cast::<c_char>(),
        attr: bindings::kunit_attributes {
            speed: bindings::kunit_speed_KUNIT_SPEED_NORMAL,
        },
        ..END
    }
}

/// Returns the suite `name` of the cases of the table at `cases`, of
/// normal speed as `#[kunit_tests]` makes it. Fails to compile if the name
/// is longer than 255 bytes.
pub(crate) const fn suite(name: &'static str, cases: *mut Case) -> Suite {
    let bytes = name.as_bytes();
    core::assert!(
        bytes.len() <= 255,
        "a KUnit suite name has at most 255 bytes"
    );
    let mut suite_name = [0; 256];
    let mut i = 0;
    while i < bytes.len() {
        suite_name[i] = bytes[i];
        i += 1;
    }
    Suite {
        name: suite_name,
        test_cases: cases,
        attr: bindings::kunit_attributes {
            speed: bindings::kunit_speed_KUNIT_SPEED_NORMAL,
        },
        // SAFETY: All-zero is a valid `kunit_suite` for the other fields
        // (null pointers, `None` functions, zero counts and status), which
        // KUnit fills in.
        ..unsafe { core::mem::zeroed() }
    }
}

/// A place in the source, for KUnit's failure messages.
///
/// # Invariants
///
/// `file` points to a NUL-terminated static string.
pub(crate) struct Location(bindings::kunit_loc);

// SAFETY: The only pointer is to a static string, which is never written.
unsafe impl Sync for Location {}

impl Location {
    /// Returns the place `line` of `file` (NUL-terminated).
    pub(crate) const fn new(file: &'static str, line: u32) -> Self {
        core::assert!(
            file.as_bytes()[file.len() - 1] == 0,
            "a file name ends with NUL"
        );
        // INVARIANT: `file` is static and ends with NUL.
        Self(bindings::kunit_loc {
            line: line as c_int,
            file: file.as_ptr().cast::<c_char>(),
        })
    }
}

/// What a case returns: nothing, or a [`Result`] whose error fails the case.
///
/// [`Result`]: core::result::Result
pub(crate) trait CaseResult {
    /// Returns the case's error, if it failed.
    fn error(&self) -> Option<&dyn fmt::Debug>;
}

impl CaseResult for () {
    fn error(&self) -> Option<&dyn fmt::Debug> {
        None
    }
}

impl<T, E: fmt::Debug> CaseResult for core::result::Result<T, E> {
    fn error(&self) -> Option<&dyn fmt::Debug> {
        self.as_ref().err().map(|e| e as &dyn fmt::Debug)
    }
}

/// The assertion of a failed case or assertion: what failed is in the
/// message.
static FAILED: bindings::kunit_fail_assert = bindings::kunit_fail_assert {
    assert: bindings::kunit_assert {},
};

/// Runs `case` in KUnit's test `test` (a suite's `run_case`): an error it
/// returns fails the case, with the error in the case's log, reported at
/// `at`.
///
/// # Safety
///
/// `test` is the test KUnit runs the case in.
pub(crate) unsafe fn run<R: CaseResult>(
    test: *mut bindings::kunit,
    case: fn() -> R,
    at: &'static Location,
) {
    let result = case();
    if let Some(error) = result.error() {
        // Indented as KUnit indents its own assertions' messages.
        // SAFETY: The caller passes the running test.
        // SAFETY: The caller passes the running test.
        unsafe {
            fail(
                test,
                at,
                bindings::kunit_assert_type_KUNIT_EXPECTATION,
                format_args!("    returned Err({error:?})"),
            )
        };
    }
}

/// Fails the running KUnit case with `message`, reported at `at`, and ends
/// it, as a failed KUnit assertion does: the case's thread leaves without
/// running destructors. Outside a KUnit case it only logs the failure.
pub(crate) fn assertion_failed(at: &'static Location, message: fmt::Arguments<'_>) {
    // SAFETY: No requirements: it reads the current task's KUnit test.
    let test = unsafe { bindings::kunit_get_current_test() };
    if test.is_null() {
        // As the kernel's `kunit_assert!` does outside a KUnit task.
        kernel::pr_err!("ASSERTION FAILED outside a KUnit case: {message}\n");
        return;
    }
    // SAFETY: `test` is the current task's running test.
    unsafe {
        fail(
            test,
            at,
            bindings::kunit_assert_type_KUNIT_ASSERTION,
            message,
        )
    };
    // SAFETY: `test` is the running test, in its own thread, which KUnit
    // ends here (it does not return).
    unsafe { bindings::__kunit_abort(test) };
}

/// Fails the running test `test` with `message`, as C's `KUNIT_FAIL` (an
/// expectation) or `KUNIT_FAIL_AND_ABORT` (an assertion, before its abort)
/// do.
///
/// # Safety
///
/// `test` is the test KUnit runs the case in.
unsafe fn fail(
    test: *mut bindings::kunit,
    at: &'static Location,
    kind: bindings::kunit_assert_type,
    message: fmt::Arguments<'_>,
) {
    // SAFETY: `test` is the running test (the caller's guarantee). `at` and
    // the assertion are statics; the file name `at` points to is
    // NUL-terminated (its invariant). `%pA` prints the `fmt::Arguments`
    // passed for it, which lives across the call. It marks the test failed
    // and returns.
    unsafe {
        bindings::__kunit_do_failed_assertion(
            test,
            &at.0,
            kind,
            &FAILED.assert,
            Some(bindings::kunit_fail_assert_format),
            c"%pA".to_bytes_with_nul().as_ptr(),
            core::ptr::from_ref(&message).cast::<c_void>(),
        )
    };
}
