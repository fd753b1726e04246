//! Files that hold what only their owner may read: the kiosk's store (sealed
//! registrations, keyed hashes) and the portal's database (identities, the
//! subscriber register, the simulated MSSP's keys).

use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Makes `path` exist with mode 0600, and takes group and others' rights
/// from one that had them, before SQLite opens it: SQLite gives the
/// database's `-wal` and `-shm` files the database file's mode.
pub fn create_owner_only(path: &Path) -> std::io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn a_new_file_and_a_readable_one_both_end_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.sqlite3");
        create_owner_only(&new).unwrap();
        assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o777, 0o600);
        let old = dir.path().join("old.sqlite3");
        std::fs::write(&old, b"kept").unwrap();
        std::fs::set_permissions(&old, Permissions::from_mode(0o644)).unwrap();
        create_owner_only(&old).unwrap();
        assert_eq!(std::fs::metadata(&old).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"kept");
    }
}
