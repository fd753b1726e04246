//! Signed A/B updates of the appliance.
//!
//! The disk holds two root slots (`root-a`, `root-b`, partitions by GPT
//! label) and an EFI system partition with systemd-boot. An update is a
//! **bundle**: a directory with the new root file system image, its kernel
//! and initrd, and `manifest.toml` (the version and each file's SHA-256 and
//! size), signed with Ed25519 (`manifest.sig`, base64) by the province's
//! update key; the kiosk holds only the public half
//! (`/etc/kiosk/update-key.pub`). Applying one verifies the signature and
//! every file, writes the image to the slot not booted, its kernel and
//! initrd to the ESP, and a boot entry with one try (`kiosk-b+1.conf`):
//! systemd-boot's boot counting (Automatic Boot Assessment) boots it once;
//! `systemd-bless-boot` marks it good only once `boot-complete.target` is
//! reached, which `kiosk-healthy.service` holds until the kiosk has reported
//! ready; an entry whose try is spent without that is sorted last, and the
//! old slot boots again. The data partition is never touched.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The files of a bundle, by their names in it.
pub const FILES: [&str; 3] = ["rootfs.img", "vmlinuz", "initrd.img"];

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("manifest.toml: {0}")]
    Manifest(String),
    #[error("the bundle's signature does not verify with this kiosk's update key")]
    BadSignature,
    #[error("{file}: its SHA-256 or size is not the manifest's (damaged or altered)")]
    Altered { file: &'static str },
    #[error("the booted slot is unknown (no kiosk.slot= on the kernel command line)")]
    UnknownSlot,
    #[error("update key: {0}")]
    Key(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> UpdateError + '_ {
    move |e| UpdateError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub sha256: String,
    pub size: u64,
}

/// `manifest.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Sorts as the boot menu sorts versions: newer is greater.
    pub version: String,
    pub files: std::collections::BTreeMap<String, FileEntry>,
}

/// SHA-256 and size of a file, read in 1 MiB pieces.
fn digest(path: &Path) -> Result<(String, u64), UpdateError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, size))
}

/// Writes `manifest.toml` and its signature into `bundle`, which holds the
/// three [`FILES`]: what the build host runs with the update key.
pub fn sign(
    bundle: &Path,
    version: &str,
    key: &kiosk_sync::DeviceKey,
) -> Result<Manifest, UpdateError> {
    let mut files = std::collections::BTreeMap::new();
    for name in FILES {
        let (sha256, size) = digest(&bundle.join(name))?;
        files.insert(name.to_string(), FileEntry { sha256, size });
    }
    let manifest = Manifest {
        version: version.to_string(),
        files,
    };
    let text = toml::to_string(&manifest).map_err(|e| UpdateError::Manifest(e.to_string()))?;
    let path = bundle.join("manifest.toml");
    std::fs::write(&path, &text).map_err(io(&path))?;
    use base64::Engine as _;
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(text.as_bytes()));
    let path = bundle.join("manifest.sig");
    std::fs::write(&path, signature).map_err(io(&path))?;
    Ok(manifest)
}

/// The bundle's manifest, once its signature verifies with `key` and every
/// file is the one it names.
pub fn verify(bundle: &Path, key: &kiosk_sync::DevicePublicKey) -> Result<Manifest, UpdateError> {
    use base64::Engine as _;
    let path = bundle.join("manifest.toml");
    let text = std::fs::read(&path).map_err(io(&path))?;
    let path = bundle.join("manifest.sig");
    let signature = std::fs::read_to_string(&path).map_err(io(&path))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| UpdateError::BadSignature)?;
    key.verify(&text, &signature)
        .map_err(|_| UpdateError::BadSignature)?;
    let text = String::from_utf8(text).map_err(|e| UpdateError::Manifest(e.to_string()))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| UpdateError::Manifest(e.message().to_string()))?;
    if !manifest
        .version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_~".contains(c))
        || manifest.version.is_empty()
    {
        return Err(UpdateError::Manifest(
            "version must be letters, digits and .-_~".into(),
        ));
    }
    for name in FILES {
        let entry = manifest
            .files
            .get(name)
            .ok_or_else(|| UpdateError::Manifest(format!("{name} is not listed")))?;
        let (sha256, size) = digest(&bundle.join(name))?;
        if sha256 != entry.sha256 || size != entry.size {
            return Err(UpdateError::Altered { file: name });
        }
    }
    Ok(manifest)
}

/// Where an update goes on this machine.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Where the slots' partitions are (`/dev/disk/by-partlabel`: `root-a`,
    /// `root-b`).
    pub partitions: PathBuf,
    /// The mounted EFI system partition (`/efi`).
    pub esp: PathBuf,
    /// The slot booted now: `a` or `b`.
    pub booted: char,
}

impl Layout {
    /// The booted slot from the kernel command line (`kiosk.slot=a`).
    pub fn booted_from(cmdline: &str) -> Result<char, UpdateError> {
        cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix("kiosk.slot="))
            .and_then(|s| match s {
                "a" => Some('a'),
                "b" => Some('b'),
                _ => None,
            })
            .ok_or(UpdateError::UnknownSlot)
    }

    pub fn target(&self) -> char {
        if self.booted == 'a' { 'b' } else { 'a' }
    }
}

/// The version of the root booted now, from its `/etc/kiosk-release`
/// (`VERSION=…`).
pub fn booted_version(release: &str) -> Option<String> {
    release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION="))
        .map(|v| v.trim().trim_matches('"').to_string())
}

/// Why a bundle found on a USB stick is not applied, if it is not: it is
/// the version running now, or it was tried in the other slot and failed
/// (its entry's one try spent without the kiosk reporting ready). A stick
/// left in the kiosk then never loops a bad update.
pub fn skip_reason(manifest: &Manifest, layout: &Layout, booted: Option<&str>) -> Option<String> {
    if booted == Some(manifest.version.as_str()) {
        return Some(format!("version {} is the one running", manifest.version));
    }
    let target = layout.target();
    let entries = std::fs::read_dir(layout.esp.join("loader").join("entries")).ok()?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let spent = name.starts_with(&format!("kiosk-{target}+0-")) && name.ends_with(".conf");
        if spent
            && std::fs::read_to_string(entry.path()).is_ok_and(|text| {
                text.lines()
                    .any(|l| l.strip_prefix("version ").map(str::trim) == Some(&manifest.version))
            })
        {
            return Some(format!(
                "version {} was tried in slot {target} and did not report ready",
                manifest.version
            ));
        }
    }
    None
}

/// Copies `from` to `to` (a partition, or a file in the tests) in 1 MiB
/// pieces and makes it durable.
fn copy_durably(from: &Path, to: &Path) -> Result<(), UpdateError> {
    let mut src = std::fs::File::open(from).map_err(io(from))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(to)
        .map_err(io(to))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf).map_err(io(from))?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).map_err(io(to))?;
    }
    dst.sync_all().map_err(io(to))
}

/// Writes a verified bundle to the slot not booted and adds its boot entry
/// with one try. Answers the slot written. A power cut at any moment
/// leaves the booted slot and its entry as they were: the new entry is
/// written last, whole or not at all.
pub fn apply(bundle: &Path, manifest: &Manifest, layout: &Layout) -> Result<char, UpdateError> {
    let target = layout.target();
    let entries = layout.esp.join("loader").join("entries");
    // First the old entry of the target slot goes: from now on the slot
    // holds nothing bootable until the new entry is complete.
    if let Ok(dir) = std::fs::read_dir(&entries) {
        for entry in dir.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("kiosk-{target}")) && name.ends_with(".conf") {
                std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
            }
        }
    }
    copy_durably(
        &bundle.join("rootfs.img"),
        &layout.partitions.join(format!("root-{target}")),
    )?;
    let slot_dir = layout.esp.join(target.to_string());
    std::fs::create_dir_all(&slot_dir).map_err(io(&slot_dir))?;
    for name in ["vmlinuz", "initrd.img"] {
        copy_durably(&bundle.join(name), &slot_dir.join(name))?;
    }
    let entry = format!(
        "title Cong DVC kiosk {version} (slot {target})\n\
         version {version}\n\
         sort-key kiosk\n\
         linux /{target}/vmlinuz\n\
         initrd /{target}/initrd.img\n\
         options root=PARTLABEL=root-{target} ro kiosk.slot={target} console=ttyS0 quiet\n",
        version = manifest.version,
    );
    std::fs::create_dir_all(&entries).map_err(io(&entries))?;
    // Written aside, then renamed: FAT has no permissions to set, but a
    // rename on it is still all or nothing.
    let path = entries.join(format!("kiosk-{target}+1.conf"));
    let aside = entries.join(format!("kiosk-{target}.conf.new"));
    let mut file = std::fs::File::create(&aside).map_err(io(&aside))?;
    file.write_all(entry.as_bytes()).map_err(io(&aside))?;
    file.sync_all().map_err(io(&aside))?;
    std::fs::rename(&aside, &path).map_err(io(&path))?;
    if let Ok(dir) = std::fs::File::open(&entries) {
        let _ = dir.sync_all();
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(dir: &Path) -> kiosk_sync::DeviceKey {
        std::fs::create_dir_all(dir).unwrap();
        for (name, fill) in FILES.iter().zip([1u8, 2, 3]) {
            std::fs::write(dir.join(name), vec![fill; 3 << 20 | 17]).unwrap();
        }
        let key = kiosk_sync::DeviceKey::generate();
        sign(dir, "2026.12.05-1", &key).unwrap();
        key
    }

    #[test]
    fn a_signed_bundle_verifies_and_any_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("bundle");
        let key = bundle(&b);
        let manifest = verify(&b, &key.public_key()).unwrap();
        assert_eq!(manifest.version, "2026.12.05-1");
        // Another key's bundle.
        let other = kiosk_sync::DeviceKey::generate();
        assert!(matches!(
            verify(&b, &other.public_key()),
            Err(UpdateError::BadSignature)
        ));
        // A manifest edited after signing.
        let text = std::fs::read_to_string(b.join("manifest.toml")).unwrap();
        std::fs::write(
            b.join("manifest.toml"),
            text.replace("2026.12.05-1", "2099.1.1"),
        )
        .unwrap();
        assert!(matches!(
            verify(&b, &key.public_key()),
            Err(UpdateError::BadSignature)
        ));
        std::fs::write(b.join("manifest.toml"), text).unwrap();
        // A file changed after signing: one byte of the kernel.
        let mut kernel = std::fs::read(b.join("vmlinuz")).unwrap();
        kernel[1000] ^= 1;
        std::fs::write(b.join("vmlinuz"), kernel).unwrap();
        assert!(matches!(
            verify(&b, &key.public_key()),
            Err(UpdateError::Altered { file: "vmlinuz" })
        ));
    }

    #[test]
    fn the_update_goes_to_the_slot_not_booted_with_one_try() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("bundle");
        let key = bundle(&b);
        let manifest = verify(&b, &key.public_key()).unwrap();
        let parts = dir.path().join("by-partlabel");
        let esp = dir.path().join("efi");
        std::fs::create_dir_all(&parts).unwrap();
        std::fs::create_dir_all(esp.join("loader/entries")).unwrap();
        std::fs::write(parts.join("root-a"), b"booted root").unwrap();
        std::fs::write(parts.join("root-b"), vec![0u8; 4 << 20]).unwrap();
        std::fs::write(esp.join("loader/entries/kiosk-a.conf"), "booted entry").unwrap();
        // A failed try of an older update of slot b is replaced.
        std::fs::write(esp.join("loader/entries/kiosk-b+0-1.conf"), "old").unwrap();
        let booted = Layout::booted_from("BOOT_IMAGE=/a/vmlinuz ro kiosk.slot=a quiet").unwrap();
        let layout = Layout {
            partitions: parts.clone(),
            esp: esp.clone(),
            booted,
        };
        assert_eq!(apply(&b, &manifest, &layout).unwrap(), 'b');
        let written = std::fs::read(parts.join("root-b")).unwrap();
        assert_eq!(
            &written[..3 << 20 | 17],
            &std::fs::read(b.join("rootfs.img")).unwrap()[..]
        );
        assert_eq!(std::fs::read(parts.join("root-a")).unwrap(), b"booted root");
        assert_eq!(
            std::fs::read(esp.join("b/vmlinuz")).unwrap(),
            std::fs::read(b.join("vmlinuz")).unwrap()
        );
        let mut entries: Vec<String> = std::fs::read_dir(esp.join("loader/entries"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        assert_eq!(entries, ["kiosk-a.conf", "kiosk-b+1.conf"]);
        let entry = std::fs::read_to_string(esp.join("loader/entries/kiosk-b+1.conf")).unwrap();
        assert!(
            entry.contains("root=PARTLABEL=root-b ro kiosk.slot=b"),
            "{entry}"
        );
        assert!(entry.contains("version 2026.12.05-1"), "{entry}");
        assert!(matches!(
            Layout::booted_from("ro quiet"),
            Err(UpdateError::UnknownSlot)
        ));
        // The same stick again after that update's try failed: left alone.
        assert_eq!(skip_reason(&manifest, &layout, Some("2026.12.01-1")), None);
        std::fs::rename(
            esp.join("loader/entries/kiosk-b+1.conf"),
            esp.join("loader/entries/kiosk-b+0-1.conf"),
        )
        .unwrap();
        let why = skip_reason(&manifest, &layout, Some("2026.12.01-1")).unwrap();
        assert!(why.contains("did not report ready"), "{why}");
        // Booted into it, it is the one running.
        assert_eq!(
            booted_version("NAME=kiosk\nVERSION=\"2026.12.05-1\"\n").as_deref(),
            Some("2026.12.05-1")
        );
        let why = skip_reason(&manifest, &layout, Some("2026.12.05-1")).unwrap();
        assert!(why.contains("running"), "{why}");
    }
}
