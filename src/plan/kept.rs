//! The attribute rows of every change, made by the first pass and kept for the review to write
//! (issue 19): a plan whose rows need no secret learned later is then read once, not twice.
//!
//! The rows are kept encoded, in memory up to [`IN_MEMORY`] bytes, beyond that in an unlinked
//! temporary file, so a large plan's rows never sit in memory (the review's peak memory stays
//! that of one pass). Reading them back gives the same [`AttributeChange`]s the rows' pass made.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;

use super::summary::{AttributeChange, Shown};

/// Encoded rows kept in memory; past this, they go to a temporary file.
const IN_MEMORY: usize = 256 << 10;

/// The rows of each change, in order, encoded.
#[derive(Default)]
pub(super) struct Kept {
    memory: Vec<u8>,
    /// Where the rows went past [`IN_MEMORY`] (unlinked: gone with the process).
    file: Option<File>,
    changes: usize,
}

impl Kept {
    /// Adds the rows of the next change; `false` when the temporary file cannot be written (the
    /// rows are then to be made again from the plan).
    pub(super) fn push(&mut self, rows: &[AttributeChange]) -> bool {
        // The record's size first, filled in below: a reader takes a change's rows in one piece.
        let at = self.memory.len();
        self.memory.extend_from_slice(&[0; 8]);
        let out = &mut self.memory;
        put_len(out, rows.len());
        for row in rows {
            out.push(u8::from(row.forces_replacement));
            put_str(out, &row.path);
            put_shown(out, row.before.as_ref());
            put_shown(out, row.after.as_ref());
        }
        let size = (self.memory.len() - at - 8) as u64;
        self.memory[at..at + 8].copy_from_slice(&size.to_le_bytes());
        self.changes += 1;
        if self.memory.len() >= IN_MEMORY {
            return self.spill();
        }
        true
    }

    /// Moves the rows in memory to the file; `false` when it cannot be written.
    fn spill(&mut self) -> bool {
        if self.file.is_none() {
            match tempfile::tempfile() {
                Ok(file) => self.file = Some(file),
                Err(_) => return false,
            }
        }
        let Some(file) = &mut self.file else {
            return false;
        };
        if file.write_all(&self.memory).is_err() {
            return false;
        }
        self.memory.clear();
        true
    }

    /// Done adding: whatever is left in memory goes to the file when there is one. `None` when
    /// it cannot be written.
    pub(super) fn finish(mut self) -> Option<Kept> {
        if self.file.is_some() {
            if !self.spill() {
                return None;
            }
            self.memory = Vec::new();
        } else {
            self.memory.shrink_to_fit();
        }
        Some(self)
    }

    /// How many changes' rows are kept.
    pub(super) fn len(&self) -> usize {
        self.changes
    }

    /// Calls `f` with each change's index and rows, in order, until it answers `false`. `Err`
    /// only when the temporary file cannot be read back.
    pub(super) fn each(
        &self,
        f: &mut dyn FnMut(usize, &[AttributeChange]) -> bool,
    ) -> std::io::Result<()> {
        // One list of rows for all changes: their strings are reused, not made anew.
        let mut rows = Vec::new();
        let Some(file) = &self.file else {
            let mut rest = &self.memory[..];
            for i in 0..self.changes {
                let size = get_size(&mut rest)?;
                let (record, after) = split(rest, size)?;
                rest = after;
                rows_of(record, &mut rows)?;
                if !f(i, &rows) {
                    break;
                }
            }
            return Ok(());
        };
        // The file, read a block at a time: `buf[start..]` is what is read and not yet taken.
        let mut buf: Vec<u8> = Vec::with_capacity(BLOCK);
        let mut start = 0;
        let mut offset = 0u64;
        let mut need = |buf: &mut Vec<u8>, start: &mut usize, n: usize| -> std::io::Result<()> {
            if buf.len() - *start >= n {
                return Ok(());
            }
            buf.drain(..*start);
            *start = 0;
            let want = n.max(BLOCK);
            let have = buf.len();
            buf.resize(want.max(have), 0);
            let mut filled = have;
            while filled < n {
                let got = file.read_at(&mut buf[filled..], offset)?;
                if got == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                filled += got;
                offset += got as u64;
            }
            buf.truncate(filled);
            Ok(())
        };
        for i in 0..self.changes {
            need(&mut buf, &mut start, 8)?;
            let size = get_size(&mut &buf[start..])?;
            start += 8;
            need(&mut buf, &mut start, size)?;
            rows_of(&buf[start..start + size], &mut rows)?;
            start += size;
            if !f(i, &rows) {
                break;
            }
        }
        Ok(())
    }
}

/// How much of the file is read at a time.
const BLOCK: usize = 64 * 1024;

/// A change's rows from its record, into `rows` (its strings reused). The record is checked as
/// UTF-8 once, whole: its strings are, and everything else in it is ASCII.
fn rows_of(record: &[u8], rows: &mut Vec<AttributeChange>) -> std::io::Result<()> {
    let r = &mut std::str::from_utf8(record).map_err(std::io::Error::other)?;
    let n = get_len(r)?;
    rows.truncate(n);
    for k in 0..n {
        let forces_replacement = get_u8(r)? != 0;
        if k == rows.len() {
            rows.push(AttributeChange {
                path: String::new(),
                before: None,
                after: None,
                forces_replacement,
            });
        }
        let row = &mut rows[k];
        row.forces_replacement = forces_replacement;
        get_str_into(r, &mut row.path)?;
        get_shown(r, &mut row.before)?;
        get_shown(r, &mut row.after)?;
    }
    Ok(())
}

fn corrupt() -> std::io::Error {
    std::io::Error::other("the kept rows are cut short")
}

fn split(r: &[u8], n: usize) -> std::io::Result<(&[u8], &[u8])> {
    if r.len() < n {
        return Err(corrupt());
    }
    Ok(r.split_at(n))
}

/// A record's size, before it (eight bytes, filled in once it is written).
fn get_size(r: &mut &[u8]) -> std::io::Result<usize> {
    let (b, rest) = split(r, 8)?;
    *r = rest;
    let n = u64::from_le_bytes(b.try_into().map_err(|_| corrupt())?);
    usize::try_from(n).map_err(std::io::Error::other)
}

const NONE: u8 = 0;
const VALUE: u8 = 1;
const UNKNOWN: u8 = 2;
const SENSITIVE: u8 = 3;
const BLOB: u8 = 4;

/// A number in ASCII bytes, six bits each from the lowest: `0x40` set when more follow.
fn put_len(out: &mut Vec<u8>, n: usize) {
    let mut n = n as u64;
    while n >= 0x40 {
        out.push(0x40 | (n & 0x3F) as u8);
        n >>= 6;
    }
    out.push(n as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_shown(out: &mut Vec<u8>, shown: Option<&Shown>) {
    match shown {
        None => out.push(NONE),
        Some(Shown::Value(v)) => {
            out.push(VALUE);
            put_str(out, v);
        }
        Some(Shown::Unknown) => out.push(UNKNOWN),
        Some(Shown::Sensitive) => out.push(SENSITIVE),
        Some(Shown::Blob { sha256, bytes }) => {
            out.push(BLOB);
            put_str(out, sha256);
            put_len(out, *bytes);
        }
    }
}

fn get_u8(r: &mut &str) -> std::io::Result<u8> {
    let b = *r.as_bytes().first().ok_or_else(corrupt)?;
    *r = r.get(1..).ok_or_else(corrupt)?;
    Ok(b)
}

fn get_len(r: &mut &str) -> std::io::Result<usize> {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = get_u8(r)?;
        if shift > 60 || b >= 0x80 {
            return Err(corrupt());
        }
        n |= u64::from(b & 0x3F) << shift;
        if b & 0x40 == 0 {
            return usize::try_from(n).map_err(std::io::Error::other);
        }
        shift += 6;
    }
}

fn get_text<'r>(r: &mut &'r str) -> std::io::Result<&'r str> {
    let n = get_len(r)?;
    let text = r.get(..n).ok_or_else(corrupt)?;
    *r = r.get(n..).ok_or_else(corrupt)?;
    Ok(text)
}

/// A string into `s`, whose room is reused.
fn get_str_into(r: &mut &str, s: &mut String) -> std::io::Result<()> {
    let text = get_text(r)?;
    s.clear();
    s.push_str(text);
    Ok(())
}

/// A value into `shown`, reusing the string of one that was shown as a value.
fn get_shown(r: &mut &str, shown: &mut Option<Shown>) -> std::io::Result<()> {
    match get_u8(r)? {
        NONE => *shown = None,
        VALUE => match shown {
            Some(Shown::Value(s)) => get_str_into(r, s)?,
            _ => *shown = Some(Shown::Value(get_text(r)?.to_owned())),
        },
        UNKNOWN => *shown = Some(Shown::Unknown),
        SENSITIVE => *shown = Some(Shown::Sensitive),
        BLOB => {
            let sha256 = get_text(r)?.to_owned();
            let bytes = get_len(r)?;
            *shown = Some(Shown::Blob { sha256, bytes });
        }
        _ => return Err(std::io::Error::other("kept rows: unknown value tag")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> AttributeChange {
        AttributeChange {
            path: format!("tags[\"n{i}\"]"),
            before: match i % 5 {
                0 => None,
                1 => Some(Shown::Value(format!("\"é{i}\""))),
                2 => Some(Shown::Unknown),
                3 => Some(Shown::Sensitive),
                _ => Some(Shown::Blob {
                    sha256: "0123456789ab".to_string(),
                    bytes: i,
                }),
            },
            after: Some(Shown::Value(if i.is_multiple_of(11) {
                "ü".repeat(i % 5_000)
            } else {
                i.to_string()
            })),
            forces_replacement: i.is_multiple_of(3),
        }
    }

    fn all(kept: &Kept) -> Vec<Vec<AttributeChange>> {
        let mut out = Vec::new();
        kept.each(&mut |i, rows| {
            assert_eq!(i, out.len());
            out.push(rows.to_vec());
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn rows_read_back_as_kept_in_memory_and_past_it_in_a_file() {
        for changes in [0, 3, 40_000] {
            let mut made: Vec<Vec<AttributeChange>> = (0..changes)
                .map(|i| (0..i % 7).map(|k| row(i + k)).collect())
                .collect();
            // A change larger than a block of the file.
            if let Some(large) = made.get_mut(20_000) {
                *large = (0..100).map(|k| row(11 * (400 + k))).collect();
            }
            let mut kept = Kept::default();
            for rows in &made {
                assert!(kept.push(rows));
            }
            let kept = kept.finish().unwrap();
            assert_eq!(kept.file.is_some(), changes == 40_000);
            assert_eq!(kept.len(), changes);
            assert_eq!(all(&kept), made);
            // Read again, and stopped early.
            assert_eq!(all(&kept), made);
            let mut seen = 0;
            kept.each(&mut |_, _| {
                seen += 1;
                seen < 2
            })
            .unwrap();
            assert_eq!(seen, changes.min(2));
        }
    }
}
