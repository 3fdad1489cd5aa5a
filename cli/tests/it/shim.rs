//! The shim installed as `gh` earlier on PATH runs the real gh (Debian's, installed by
//! `make test`) and never itself; commands that are not reads pass through untouched.

use std::os::unix::fs::symlink;
use std::process::Command;

fn shim_env() -> (tempfile::TempDir, std::ffi::OsString) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    symlink(env!("CARGO_BIN_EXE_shoal"), bin.join("gh")).unwrap();
    let path = std::env::join_paths([bin.as_path(), "/usr/bin".as_ref(), "/bin".as_ref()]).unwrap();
    (dir, path)
}

#[test]
fn shim_named_gh_runs_the_real_gh_further_down_path() {
    let (dir, path) = shim_env();
    let out = Command::new(dir.path().join("bin/gh"))
        .arg("--version")
        .env("PATH", &path)
        .env("SHOAL_CONFIG_DIR", dir.path().join("cfg"))
        .env_remove("SHOAL_REAL_GH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("gh version "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn passthrough_keeps_gh_exit_code_and_output() {
    let (dir, path) = shim_env();
    // An unknown command is not a read: gh itself answers, with its own exit code.
    let direct = Command::new("/usr/bin/gh")
        .arg("no-such-command")
        .env("GH_CONFIG_DIR", dir.path())
        .output()
        .unwrap();
    let shimmed = Command::new(dir.path().join("bin/gh"))
        .arg("no-such-command")
        .env("PATH", &path)
        .env("GH_CONFIG_DIR", dir.path())
        .env("SHOAL_CONFIG_DIR", dir.path().join("cfg"))
        .env_remove("SHOAL_REAL_GH")
        .output()
        .unwrap();
    assert_eq!(shimmed.status.code(), direct.status.code());
    assert_eq!(shimmed.stdout, direct.stdout);
    assert_eq!(shimmed.stderr, direct.stderr);
}

#[test]
fn a_read_while_logged_out_says_why_and_runs_gh_directly() {
    let (dir, path) = shim_env();
    let out = Command::new(dir.path().join("bin/gh"))
        .args(["pr", "list", "-R", "octo-org/hello-world"])
        .env("PATH", &path)
        .env("GH_CONFIG_DIR", dir.path())
        .env("SHOAL_CONFIG_DIR", dir.path().join("cfg"))
        .env_remove("SHOAL_REAL_GH")
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("shoal: not logged in"), "{err}");

    let quiet = Command::new(dir.path().join("bin/gh"))
        .args(["pr", "list", "-R", "octo-org/hello-world"])
        .env("PATH", &path)
        .env("GH_CONFIG_DIR", dir.path())
        .env("SHOAL_CONFIG_DIR", dir.path().join("cfg"))
        .env("SHOAL_QUIET", "1")
        .env_remove("SHOAL_REAL_GH")
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("shoal:"));
}
