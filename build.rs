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
//! `link/rodata-order.ld` does the same for the read-only data a scrape
//! reads (string literals, tables): it names their input sections, most
//! read first, for one output section placed before `.rodata`.
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
    let rodata = Path::new(env!("CARGO_MANIFEST_DIR")).join("link/rodata-order.ld");
    println!("cargo:rerun-if-changed={}", rodata.display());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    println!("cargo:rerun-if-env-changed=OUTPOST_LINK_MAP");
    if !linker_is_lld() {
        return;
    }
    if let Ok(list) = std::fs::read_to_string(&order) {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        // The read-only data a scrape reads, grouped the same way: an
        // `INSERT BEFORE .rodata` script, which adds one output section and
        // leaves lld's default layout otherwise as it is. Sections it names
        // that the binary lacks match nothing.
        if rodata.exists() {
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", rodata.display());
        }
        // Symbol names carry hashes that change with the compiler: a list
        // made by another one matches nothing, and the build says so.
        let made_with = list
            .lines()
            .find_map(|l| l.strip_prefix("# with rustc "))
            .and_then(|l| l.split_whitespace().next());
        let this = rustc_version();
        if made_with.is_some() && made_with != this.as_deref() {
            println!(
                "cargo:warning=link/symbol-order.txt was made with rustc {}, this is rustc {}: \
                 the exporter's hot code is not grouped; run bench/symbol-order.sh",
                made_with.unwrap_or("?"),
                this.as_deref().unwrap_or("?")
            );
        }
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
    rustc_version()
        .and_then(|v| v.split('.').nth(1)?.parse::<u32>().ok())
        .is_some_and(|minor| minor >= 90)
}

/// The version of the compiler building this crate (`1.95.0`).
fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.split_whitespace().nth(1)?.to_owned())
}
