// SPDX-License-Identifier: GPL-2.0

//! `kernel::module` for Linux 6.12: the module entry point in 7.3's shape.
//!
//! C header: [include/linux/module.h](srctree/include/linux/module.h)
//!
//! 6.12's kernel crate has [`Module`], whose `init` returns the module by
//! value, and a `module!` with the keys `type`, `name`, `author` (one
//! string), `description`, `license`, `alias` and `firmware`; it generates
//! `THIS_MODULE` and `__LOG_PREFIX` at the crate root. It lacks
//! [`InPlaceModule`] (a module initialised in place, pinned; the kernel
//! crate has it since 6.13), [`ModuleMetadata`] with the module's
//! `THIS_MODULE` and the `crate::LocalModule` alias that names the crate's
//! module type (both later), and the `authors` and `imports_ns` keys of
//! `module!` (later as well).
//!
//! This is the subset that the two crate roots and kapi use: [`module!`]
//! takes 7.3's syntax and expands to 6.12's `kernel::module!` for a wrapper
//! that holds the [`InPlaceModule`] pinned in a box (one allocation at load,
//! freed at unload), and writes the authors and the namespace imports into
//! `.modinfo` itself, as C's `MODULE_AUTHOR` and `MODULE_IMPORT_NS` do.

use kernel::error::Error;
use kernel::init::{
    pin_init_from_closure,
    PinInit, //
};
use kernel::Module;
use kernel::ThisModule;

/// A module that is pinned and initialised in place.
///
/// Every [`Module`] is one (initialised by value, then moved in place).
pub(crate) trait InPlaceModule: Sync + Send {
    /// Returns the initialiser of the module, which runs when it is loaded.
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error>;
}

impl<T: Module> InPlaceModule for T {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            let module = <Self as Module>::init(module)?;
            // SAFETY: `pin_init_from_closure` passes a slot that is valid
            // for a write of `Self`.
            unsafe { slot.write(module) };
            Ok(())
        };
        // SAFETY: On success the closure has initialised the slot fully;
        // on failure it has written nothing.
        unsafe { pin_init_from_closure(init) }
    }
}

/// What `module!` records of the module, for kapi.
pub(crate) trait ModuleMetadata {
    /// The module's `THIS_MODULE`: the `struct module` of a loadable module,
    /// null for built-in code.
    const THIS_MODULE: ThisModule;
}

/// Declares the crate's module with 7.3's `module!` syntax.
///
/// Expands to 6.12's `kernel::module!` for a wrapper [`Module`] holding
/// `type` (an [`InPlaceModule`]) pinned in a [`KBox`], with
/// `crate::LocalModule` naming `type` and its [`ModuleMetadata`]. Each
/// author and each namespace import becomes a `.modinfo` entry of its own
/// (`author=…`, `import_ns=…`), the same bytes C's `MODULE_AUTHOR` and
/// `MODULE_IMPORT_NS` write. The entries are `#[used(compiler)]`, as
/// `kernel::module!`'s own: a plain `#[used]` also marks the section
/// retained (`SHF_GNU_RETAIN`), which puts it in a second `.modinfo`
/// section that modpost and the module loader do not read.
///
/// [`KBox`]: kernel::alloc::KBox
macro_rules! module {
    (
        type: $type:ident,
        name: $name:tt,
        authors: [$($author:tt),+ $(,)?],
        description: $description:tt,
        license: $license:tt,
        imports_ns: [$($ns:tt),* $(,)?] $(,)?
    ) => {
        /// The module type of the crate, as `module!` declares it.
        type LocalModule = $type;

        impl $crate::kapi::kernel::ModuleMetadata for $type {
            #[cfg(MODULE)]
            const THIS_MODULE: ::kernel::ThisModule =
                // SAFETY: `__this_module` is the `struct module` of this
                // module, which the kernel builds when it loads the module
                // and frees only after unloading it. Only its address is
                // taken.
                unsafe {
                    ::kernel::ThisModule::from_ptr(&raw mut ::kernel::bindings::__this_module)
                };

            #[cfg(not(MODULE))]
            const THIS_MODULE: ::kernel::ThisModule =
                // SAFETY: Built-in code has no `struct module`: C's
                // `THIS_MODULE` is null there too.
                unsafe { ::kernel::ThisModule::from_ptr(::core::ptr::null_mut()) };
        }

        /// The module as 6.12's `kernel::module!` takes it: `type`, pinned.
        struct __RdmabufPinnedModule {
            /// The module, dropped (and freed) when the module is unloaded.
            _module: ::core::pin::Pin<::kernel::alloc::KBox<$type>>,
        }

        impl ::kernel::Module for __RdmabufPinnedModule {
            fn init(module: &'static ::kernel::ThisModule) -> ::kernel::error::Result<Self> {
                let init = <$type as $crate::kapi::kernel::InPlaceModule>::init(module);
                Ok(Self {
                    _module: <::kernel::alloc::KBox<$type> as ::kernel::init::InPlaceInit<
                        $type,
                    >>::pin_init(init, ::kernel::alloc::flags::GFP_KERNEL)?,
                })
            }
        }

        ::kernel::macros::module! {
            type: __RdmabufPinnedModule,
            name: $name,
            description: $description,
            license: $license,
        }

        $($crate::kapi::kernel::module::modinfo!($name, "author", $author);)+
        $($crate::kapi::kernel::module::modinfo!($name, "import_ns", $ns);)*
    };
}
pub(crate) use module;

/// One `.modinfo` entry `key=value` of module `name`, as C's `MODULE_INFO()`
/// writes it (`name.key=value` in built-in code).
macro_rules! modinfo {
    ($name:tt, $key:tt, $value:tt) => {
        const _: () = {
            #[cfg(MODULE)]
            const ENTRY: &str = ::core::concat!($key, "=", $value, "\0");
            #[cfg(not(MODULE))]
            const ENTRY: &str = ::core::concat!($name, ".", $key, "=", $value, "\0");
            const LEN: usize = ENTRY.len();

            /// The entry's bytes in the section modpost and the loader read.
            #[used(compiler)]
            #[link_section = ".modinfo"]
            static MODINFO: [u8; LEN] = match ENTRY.as_bytes().first_chunk::<LEN>() {
                Some(bytes) => *bytes,
                None => ::core::panic!("a modinfo entry has its own length"),
            };
        };
    };
}
pub(crate) use modinfo;
