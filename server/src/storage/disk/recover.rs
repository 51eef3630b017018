//! Opening a log after a crash: the scan, the cut of a torn tail, the
//! quarantine and salvage of damaged records.

use super::*;

/// Opens or creates `log`, scans it and repairs it.
///
/// A torn tail (the file ends inside a record: a crash during a write that
/// was never acknowledged) is cut off. A damaged record is not cut off
/// blindly: everything from it to the end of the file is first copied into
/// `quarantine/`, then every whole record after the damage is found
/// ([`record::salvage`]) and written back after the good prefix, so that
/// one flipped bit loses one record, not all the ones after it. What was
/// lost and where the copy lies is logged (and `hearth doctor` reports it).
/// Returns the file, its valid length, its records, and the highest
/// sequence number that damaged or torn bytes claimed (0 if none), below
/// which no new entry may be numbered.
pub(super) fn open_log(dir: &Path) -> Result<(File, u64, Vec<record::Record>, u64), StoreError> {
    let path = dir.join(LOG_FILE);
    let err = io_err(&path);
    let created = !path.exists();
    let mut file = private_file()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    make_private(&path).map_err(io_err(&path))?;
    let len = file.metadata().map_err(io_err(&path))?.len();
    if len < LOG_MAGIC.len() as u64 {
        // New, or a crash while it was being created.
        file.set_len(0).map_err(io_err(&path))?;
        file.write_all_at(LOG_MAGIC, 0).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        if created {
            fsync_dir(dir).map_err(io_err(dir))?;
        }
        return Ok((file, LOG_MAGIC.len() as u64, Vec::new(), 0));
    }
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0).map_err(io_err(&path))?;
    if &magic != LOG_MAGIC {
        return Err(StoreError::Corrupt {
            at: path.display().to_string(),
            detail: "not a hearth log".into(),
        });
    }
    file.seek(SeekFrom::Start(LOG_MAGIC.len() as u64))
        .map_err(io_err(&path))?;
    let mut scan =
        record::scan(BufReader::with_capacity(1 << 16, &mut file)).map_err(io_err(&path))?;
    if scan.valid_len >= len {
        return Ok((file, scan.valid_len, scan.records, 0));
    }

    // Nothing is cut off without a copy: read what follows the good prefix,
    // keep it in quarantine, and look for whole records in it.
    let rest_len = usize::try_from(len - scan.valid_len).map_err(|_| StoreError::Corrupt {
        at: path.display().to_string(),
        detail: "the damaged part is too large to read".into(),
    })?;
    let mut rest = vec![0u8; rest_len];
    file.read_exact_at(&mut rest, scan.valid_len)
        .map_err(io_err(&path))?;
    let last_seq = scan.records.last().map_or(0, |r| r.seq);
    let found = record::salvage(&rest, scan.valid_len, last_seq);
    // The sequence number the first cut record claims, if it is plausible:
    // it may have been acknowledged, so it is never given out again.
    let claimed = record::claimed_seq(&rest, last_seq);
    if scan.stop == Stop::Incomplete && found.is_empty() {
        // A torn tail: the file ends inside its last record, a write that
        // was cut short by a crash.
        let copy = quarantine(dir, "torn", scan.valid_len, &rest)?;
        tracing::warn!(path = %path.display(), kept = scan.valid_len, found = len, copy = %copy.display(), "cutting a torn tail off a log");
        file.set_len(scan.valid_len).map_err(io_err(&path))?;
        file.sync_all().map_err(err)?;
        return Ok((file, scan.valid_len, scan.records, claimed));
    }
    let copy = quarantine(dir, "damaged", scan.valid_len, &rest)?;
    let mut out = Vec::new();
    let mut at = scan.valid_len;
    for (mut rec, raw) in found {
        let header_and_fields = raw.len() as u64 - u64::from(rec.payload_len);
        rec.payload_offset = at + header_and_fields;
        at += raw.len() as u64;
        out.extend_from_slice(&raw);
        scan.records.push(rec);
    }
    let recovered = scan.records.len();
    file.set_len(scan.valid_len).map_err(io_err(&path))?;
    file.write_all_at(&out, scan.valid_len)
        .map_err(io_err(&path))?;
    file.sync_all().map_err(io_err(&path))?;
    let lost_bytes = rest.len() - out.len();
    tracing::error!(
        path = %path.display(),
        damaged_at = scan.valid_len,
        lost_bytes,
        salvaged_bytes = out.len(),
        records = recovered,
        quarantine = %copy.display(),
        "a log had a damaged record; the records after it were recovered, and the damaged part was copied aside"
    );
    let claimed = claimed.max(scan.records.last().map_or(0, |r| r.seq));
    Ok((file, at, scan.records, claimed))
}

/// Copies `bytes` (from file offset `offset` of the log) into a new file in
/// `quarantine/` named `<what>-<time>-at-<offset>` (`torn`: the tail of a
/// write a crash cut short, never acknowledged; `damaged`: a damaged record
/// and what followed it), durably, and returns its path.
pub(super) fn quarantine(
    dir: &Path,
    what: &str,
    offset: u64,
    bytes: &[u8],
) -> Result<PathBuf, StoreError> {
    let qdir = dir.join(QUARANTINE_DIR);
    create_dir_private(&qdir).map_err(io_err(&qdir))?;
    let name = format!("{what}-{}-at-{offset}", unix_now());
    let path = qdir.join(name);
    let mut f = private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(io_err(&path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err(&path))?;
    fsync_dir(&qdir).map_err(io_err(&qdir))?;
    Ok(path)
}

/// Every record of a log file with its raw bytes (a whole prefix: scanning
/// stops at the first bad record).
pub(super) fn scan_file(path: &Path) -> Result<Vec<(record::Record, Vec<u8>)>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let Some(body) = bytes
        .get(LOG_MAGIC.len()..)
        .filter(|_| bytes.starts_with(LOG_MAGIC))
    else {
        return Err(StoreError::Corrupt {
            at: path.display().to_string(),
            detail: "not a hearth log".into(),
        });
    };
    let scan = record::scan(body).map_err(io_err(path))?;
    let mut out = Vec::with_capacity(scan.records.len());
    let mut at = LOG_MAGIC.len();
    for r in scan.records {
        let len = usize::try_from(record::encoded_len(
            r.key.as_deref(),
            r.payload_len as usize,
        ))
        .unwrap_or(usize::MAX);
        let raw = bytes
            .get(at..at.saturating_add(len))
            .unwrap_or_default()
            .to_vec();
        at = at.saturating_add(len);
        out.push((r, raw));
    }
    Ok(out)
}
