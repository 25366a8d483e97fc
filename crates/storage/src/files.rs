//! Files and directories the service keeps on local disk.

use std::path::Path;

/// Creates `dir` and any missing parent as the service user's alone (0700 on Unix), since
/// what goes in them (the embedded store, generated keys) is private. Directories that are
/// already there are left as the operator made them.
///
/// # Errors
/// What creating the directories fails with.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
