//! Finding and running the user's real `gh`. The shim may itself be installed as `gh` earlier on
//! PATH, so the real one is the first `gh` on PATH that is not this executable.

use std::path::{Path, PathBuf};

/// Env var naming the real gh explicitly (wins over PATH).
pub const REAL_GH_ENV: &str = "SHOAL_REAL_GH";

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The real gh: `$SHOAL_REAL_GH`, else the first `gh` on `path` that does not resolve to `me`.
pub fn find(path: Option<&std::ffi::OsStr>, me: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(REAL_GH_ENV).map(PathBuf::from) {
        return is_executable(&p).then_some(p);
    }
    let me = std::fs::canonicalize(me).unwrap_or_else(|_| me.to_path_buf());
    std::env::split_paths(path?)
        .map(|d| d.join("gh"))
        .find(|cand| is_executable(cand) && std::fs::canonicalize(cand).map(|c| c != me).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn skips_itself_and_finds_the_next_gh_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let (shim_dir, real_dir) = (dir.path().join("shim"), dir.path().join("real"));
        std::fs::create_dir_all(&shim_dir).unwrap();
        std::fs::create_dir_all(&real_dir).unwrap();
        let me = dir.path().join("shoal");
        std::fs::copy("/bin/true", &me).unwrap();
        symlink(&me, shim_dir.join("gh")).unwrap();
        std::fs::copy("/bin/true", real_dir.join("gh")).unwrap();

        let path = std::env::join_paths([&shim_dir, &real_dir]).unwrap();
        assert_eq!(find(Some(&path), &me), Some(real_dir.join("gh")));
        let only_me = std::env::join_paths([&shim_dir]).unwrap();
        assert_eq!(find(Some(&only_me), &me), None);
    }
}
