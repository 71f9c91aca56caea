//! Links the `outpost` binary with its hot code together.
//!
//! `link/symbol-order.txt` lists the functions a scrape runs, hottest first
//! (made by `bench/symbol-order.sh` from a callgrind run of the exporter).
//! lld places them at the start of `.text`, so a scrape touches a few
//! hundred kilobytes of contiguous code instead of pages scattered over the
//! whole binary, which also carries the bridge, the generator and the chart
//! renderer: the exporter's resident set after back-to-back scrapes drops by
//! about 2.5 MB and a scrape costs less CPU (figures in BENCHMARKS.md).
//!
//! Only applied where the linker is lld, which understands the option:
//! rustc's default on x86_64 Linux since 1.90, unless the build chooses its
//! own linker. Symbols the list names but the binary lacks (after a
//! toolchain or dependency update changed their hashes) are ignored; run the
//! script again to refresh the list.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("link/symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    println!("cargo:rerun-if-env-changed=OUTPOST_LINK_MAP");
    if !linker_is_lld() {
        return;
    }
    if order.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    // The script that makes the list needs to know which function sits
    // where in the stripped binary: the linker's map says.
    if let Some(map) = std::env::var_os("OUTPOST_LINK_MAP") {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,-Map={}",
            Path::new(&map).display()
        );
        // Mangled names in the map, as the ordering file needs them.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-demangle");
    }
}

fn linker_is_lld() -> bool {
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    if std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some() {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return false;
    }
    rustc_minor().is_some_and(|minor| minor >= 90)
}

/// The minor version of the compiler building this crate (`1.95.0` → 95).
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    version.split('.').nth(1)?.parse().ok()
}
