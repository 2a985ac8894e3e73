#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Add the project's two crates to the kernel's rust-project.json.

    rust_analyzer.py KDIR MODDIR TOP

`make rust-analyzer` first runs the kernel's own `make M=MODDIR rust-analyzer`
(MODDIR is TOP, or its copy for another ARCH), which writes
MODDIR/rust-project.json with the sysroot and the kernel's crates
(core, kernel, pin_init, ...). The kernel's script finds an external crate
root only next to a Kbuild that names it; ours are under src/ with one Kbuild
at the top, and each is compiled with a cfg of its own (`kapi_udmabuf`,
`kapi_heap`) that selects its parts of src/kapi/. So this adds them here,
with the kernel's config cfgs, so that go-to-definition works across the
`#[path]` modules of src/kapi/ as the compiler sees them, and, as Kbuild
does, `kernel_6_12` for a Linux 6.12 tree. The result is
TOP/rust-project.json, naming the crate roots in TOP.
"""
import json
import sys
from pathlib import Path

# Crate root, Kbuild's --cfg for it.
CRATES = [
    ("rudmabuf", "src/udmabuf/rudmabuf.rs", "kapi_udmabuf"),
    ("rsystem_heap", "src/system_heap/rsystem_heap.rs", "kapi_heap"),
]
DEPS = ["core", "kernel", "pin_init", "zerocopy", "zerocopy_derive"]


def main():
    kdir, moddir, top = (Path(arg).resolve() for arg in sys.argv[1:4])
    project = json.loads((moddir / "rust-project.json").read_text())
    project_file = top / "rust-project.json"
    crates = project["crates"]
    index = {c["display_name"]: i for i, c in enumerate(crates)}
    cfgs = [line.strip().replace("--cfg=", "")
            for line in (kdir / "include" / "generated" / "rustc_cfg").read_text().splitlines()
            if line.strip()]
    release = (kdir / "include" / "config" / "kernel.release").read_text()
    if release.startswith("6.12."):
        cfgs.append("kernel_6_12")
    for name, root, cfg in CRATES:
        crate = {
            "display_name": name,
            "root_module": str(top / root),
            "is_workspace_member": True,
            "deps": [{"crate": index[d], "name": d} for d in DEPS if d in index],
            "cfg": cfgs + [cfg],
            "edition": "2021",
            "env": {"RUST_MODFILE": "This is only for rust-analyzer"},
        }
        # Replaced in place if the kernel's script found it (other crates
        # refer to crates by index), else added.
        found = [i for i, c in enumerate(crates)
                 if c["root_module"] in (str(moddir / root), str(top / root))]
        if found:
            crates[found[0]] = crate
        else:
            crates.append(crate)
    project_file.write_text(json.dumps(project, sort_keys=True, indent=4) + "\n")
    print(f"rust-analyzer: {project_file}: {', '.join(n for n, _, _ in CRATES)} added")


if __name__ == "__main__":
    main()
