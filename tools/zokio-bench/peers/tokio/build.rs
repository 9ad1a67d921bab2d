// Records, at build time, what --version prints: the rustc that compiled this peer (from the
// RUSTC cargo passes to build scripts) and the tokio version Cargo.lock resolved.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(&rustc).arg("--version").output().expect("run rustc --version");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // "rustc 1.95.0 (59807616e 2026-04-14)" -> "1.95.0"
    let version = text.split_whitespace().nth(1).unwrap_or("unknown").to_string();
    println!("cargo:rustc-env=ZOKIO_PEER_RUSTC_VERSION={}", version);

    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let lock = std::fs::read_to_string(format!("{}/Cargo.lock", dir)).expect("read Cargo.lock");
    println!("cargo:rustc-env=ZOKIO_PEER_TOKIO_VERSION={}", locked_version(&lock, "tokio"));
    println!("cargo:rustc-env=ZOKIO_PEER_HYPER_VERSION={}", locked_version(&lock, "hyper"));
}

// The version of `name` in Cargo.lock: the `version = "..."` line after `name = "<name>"`.
fn locked_version(lock: &str, name: &str) -> String {
    let wanted = format!("name = \"{}\"", name);
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            if let Some(v) = lines.next() {
                if let Some(rest) = v.trim().strip_prefix("version = \"") {
                    return rest.trim_end_matches('"').to_string();
                }
            }
        }
    }
    panic!("{} not found in Cargo.lock", name);
}
