//! Link settings of the binaries.
//!
//! On Linux with glibc the binaries are linked with packed relative relocations (`DT_RELR`, glibc 2.36+,
//! binutils 2.38+): a position-independent executable of this size carries about a megabyte of relocation
//! entries that the loader reads at every start, and that stays in the process's resident set. Packed, they take
//! a few kilobytes. `DFS_GATEWAY_NO_RELR=1` turns it off for an older toolchain or target system.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DFS_GATEWAY_NO_RELR");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let off = !matches!(var("DFS_GATEWAY_NO_RELR").as_str(), "" | "0");
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" && !off {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
