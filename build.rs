//! Stamps the build with the git revision and the compiler version, for `kiro_exporter_build_info`.
//! `KIRO_EXPORTER_REVISION` overrides the revision (a container build without `.git`); outside git it is
//! `unknown`.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=KIRO_EXPORTER_REVISION");
    let revision = std::env::var("KIRO_EXPORTER_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // A new commit or checkout changes HEAD or the ref it names: stamp again then. Only files that exist
    // are watched (cargo treats a missing one as always changed, which would rebuild the crate every time).
    let watch = |path: String| {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    };
    let reference = output("git", &["symbolic-ref", "-q", "HEAD"]);
    for dir in [output("git", &["rev-parse", "--git-dir"]), output("git", &["rev-parse", "--git-common-dir"])]
        .into_iter()
        .flatten()
    {
        watch(format!("{dir}/HEAD"));
        watch(format!("{dir}/packed-refs"));
        if let Some(r) = &reference {
            watch(format!("{dir}/{r}"));
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustversion = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=KIRO_EXPORTER_REVISION={revision}");
    println!("cargo:rustc-env=KIRO_EXPORTER_RUSTVERSION={rustversion}");
}
