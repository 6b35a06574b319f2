//! A decoder of Postgres's `pgoutput` logical replication messages (protocol version 1, text
//! tuples), as the Postgres documentation's "Logical Replication Message Formats" defines them.
//! Begin, Commit and logical decoding messages are decoded by the replication client; this
//! decodes the rest: Relation, Type, Insert, Update, Delete, Truncate, Origin.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("pgoutput message {tag:?}: {reason}")]
pub(super) struct DecodeError {
    pub tag: char,
    pub reason: String,
}

/// One column of a relation as the Relation message describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RelationColumn {
    /// Part of the replica identity (the key, for REPLICA IDENTITY DEFAULT).
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Relation {
    pub oid: u32,
    pub namespace: String,
    pub name: String,
    /// `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<RelationColumn>,
}

/// A column value in a tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Cell {
    Null,
    /// An unchanged TOASTed value: the tuple does not carry it.
    Unchanged,
    /// The value in the type's text output form.
    Text(String),
}

/// The old row an Update or Delete carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum OldTuple {
    /// `K`: only the replica identity's (key) columns are set, others are null.
    Key(Vec<Cell>),
    /// `O`: the whole old row (REPLICA IDENTITY FULL).
    Full(Vec<Cell>),
}

impl OldTuple {
    pub(super) fn cells(&self) -> &[Cell] {
        match self {
            OldTuple::Key(c) | OldTuple::Full(c) => c,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Message {
    Relation(Relation),
    Type {
        oid: u32,
        namespace: String,
        name: String,
    },
    Insert {
        relation: u32,
        new: Vec<Cell>,
    },
    Update {
        relation: u32,
        old: Option<OldTuple>,
        new: Vec<Cell>,
    },
    Delete {
        relation: u32,
        old: OldTuple,
    },
    Truncate {
        relations: Vec<u32>,
        cascade: bool,
        restart_identity: bool,
    },
    Origin {
        lsn: u64,
        name: String,
    },
    /// Begin, Commit, Message and anything this decoder does not need.
    Other(u8),
}

struct Reader<'a> {
    tag: char,
    p: &'a [u8],
}

impl<'a> Reader<'a> {
    fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError { tag: self.tag, reason: reason.into() }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.p.len() < n {
            return Err(self.err(format!("truncated: {what} needs {n} bytes, {} left", self.p.len())));
        }
        let (h, t) = self.p.split_at(n);
        self.p = t;
        Ok(h)
    }
    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn i16(&mut self, what: &str) -> Result<i16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self, what: &str) -> Result<i32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(self.i32(what)? as u32)
    }
    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        let end = self.p.iter().position(|&b| b == 0).ok_or_else(|| self.err(format!("{what}: no terminating NUL")))?;
        let s = std::str::from_utf8(&self.p[..end]).map_err(|e| self.err(format!("{what}: {e}")))?.to_string();
        self.p = &self.p[end + 1..];
        Ok(s)
    }
    fn tuple(&mut self) -> Result<Vec<Cell>, DecodeError> {
        let n = self.i16("tuple column count")?;
        if n < 0 {
            return Err(self.err(format!("negative column count {n}")));
        }
        let mut cells = Vec::with_capacity(n as usize);
        for i in 0..n {
            let kind = self.u8("tuple column kind")?;
            cells.push(match kind {
                b'n' => Cell::Null,
                b'u' => Cell::Unchanged,
                b't' => {
                    let len = self.i32("value length")?;
                    if len < 0 {
                        return Err(self.err(format!("column {i}: negative length {len}")));
                    }
                    let bytes = self.take(len as usize, "value")?;
                    let s = std::str::from_utf8(bytes).map_err(|e| self.err(format!("column {i}: {e}")))?;
                    Cell::Text(s.to_string())
                }
                b'b' => return Err(self.err("binary tuple values are not requested and not supported")),
                other => return Err(self.err(format!("column {i}: unknown value kind {:?}", other as char))),
            });
        }
        Ok(cells)
    }
}

/// Decodes one pgoutput message (the payload of an XLogData message).
pub(super) fn decode(data: &[u8]) -> Result<Message, DecodeError> {
    let Some((&tag, rest)) = data.split_first() else {
        return Err(DecodeError { tag: '?', reason: "empty message".into() });
    };
    let mut r = Reader { tag: tag as char, p: rest };
    let m = match tag {
        b'R' => {
            let oid = r.u32("relation oid")?;
            let namespace = r.string("namespace")?;
            let name = r.string("relation name")?;
            let replica_identity = r.u8("replica identity")?;
            let n = r.i16("column count")?;
            let mut columns = vec![];
            for _ in 0..n.max(0) {
                let flags = r.u8("column flags")?;
                let name = r.string("column name")?;
                let type_oid = r.u32("column type")?;
                let type_modifier = r.i32("column type modifier")?;
                columns.push(RelationColumn { key: flags & 1 == 1, name, type_oid, type_modifier });
            }
            Message::Relation(Relation { oid, namespace, name, replica_identity, columns })
        }
        b'Y' => {
            Message::Type { oid: r.u32("type oid")?, namespace: r.string("namespace")?, name: r.string("type name")? }
        }
        b'I' => {
            let relation = r.u32("relation oid")?;
            match r.u8("tuple marker")? {
                b'N' => Message::Insert { relation, new: r.tuple()? },
                other => return Err(r.err(format!("expected 'N', got {:?}", other as char))),
            }
        }
        b'U' => {
            let relation = r.u32("relation oid")?;
            let mut old = None;
            let mut marker = r.u8("tuple marker")?;
            if marker == b'K' || marker == b'O' {
                let t = r.tuple()?;
                old = Some(if marker == b'K' { OldTuple::Key(t) } else { OldTuple::Full(t) });
                marker = r.u8("tuple marker")?;
            }
            if marker != b'N' {
                return Err(r.err(format!("expected 'N', got {:?}", marker as char)));
            }
            Message::Update { relation, old, new: r.tuple()? }
        }
        b'D' => {
            let relation = r.u32("relation oid")?;
            let old = match r.u8("tuple marker")? {
                b'K' => OldTuple::Key(r.tuple()?),
                b'O' => OldTuple::Full(r.tuple()?),
                other => return Err(r.err(format!("expected 'K' or 'O', got {:?}", other as char))),
            };
            Message::Delete { relation, old }
        }
        b'T' => {
            let n = r.i32("relation count")?;
            let options = r.u8("options")?;
            let mut relations = vec![];
            for _ in 0..n.max(0) {
                relations.push(r.u32("relation oid")?);
            }
            Message::Truncate { relations, cascade: options & 1 != 0, restart_identity: options & 2 != 0 }
        }
        b'O' => Message::Origin { lsn: r.u64("origin lsn")?, name: r.string("origin name")? },
        other => Message::Other(other),
    };
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    fn text(out: &mut Vec<u8>, v: &str) {
        out.push(b't');
        out.extend_from_slice(&(v.len() as i32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    /// A message `kind` about relation 7.
    fn message(kind: u8) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&7u32.to_be_bytes());
        m
    }
    /// A tuple ('N' new, 'K' key, 'O' old) of `cells`, as pgoutput sends it.
    fn tuple(out: &mut Vec<u8>, tag: u8, cells: &[Cell]) {
        out.push(tag);
        out.extend_from_slice(&(cells.len() as i16).to_be_bytes());
        for c in cells {
            match c {
                Cell::Text(v) => text(out, v),
                Cell::Null => out.push(b'n'),
                Cell::Unchanged => out.push(b'u'),
            }
        }
    }
    fn t(v: &str) -> Cell {
        Cell::Text(v.into())
    }

    #[test]
    fn relation() {
        let mut m = vec![b'R'];
        m.extend_from_slice(&16384u32.to_be_bytes());
        s(&mut m, "public");
        s(&mut m, "orders");
        m.push(b'd');
        m.extend_from_slice(&2i16.to_be_bytes());
        m.push(1);
        s(&mut m, "id");
        m.extend_from_slice(&20u32.to_be_bytes());
        m.extend_from_slice(&(-1i32).to_be_bytes());
        m.push(0);
        s(&mut m, "price");
        m.extend_from_slice(&1700u32.to_be_bytes());
        m.extend_from_slice(&((10 << 16 | 2) + 4i32).to_be_bytes());
        let Message::Relation(r) = decode(&m).unwrap() else { panic!() };
        assert_eq!(r.oid, 16384);
        assert_eq!((r.namespace.as_str(), r.name.as_str(), r.replica_identity), ("public", "orders", b'd'));
        assert_eq!(r.columns.len(), 2);
        assert!(r.columns[0].key && !r.columns[1].key);
        assert_eq!((r.columns[1].type_oid, r.columns[1].type_modifier), (1700, (10 << 16 | 2) + 4));
    }

    #[test]
    fn insert_update_delete_truncate() {
        let new = vec![t("1"), Cell::Null, t("héllo")];
        let mut m = message(b'I');
        tuple(&mut m, b'N', &new);
        assert_eq!(decode(&m).unwrap(), Message::Insert { relation: 7, new });

        let (key, new) = (vec![t("1")], vec![t("2"), Cell::Unchanged]);
        let mut m = message(b'U');
        tuple(&mut m, b'K', &key);
        tuple(&mut m, b'N', &new);
        assert_eq!(decode(&m).unwrap(), Message::Update { relation: 7, old: Some(OldTuple::Key(key)), new });

        let new = vec![t("2")];
        let mut m = message(b'U');
        tuple(&mut m, b'N', &new);
        assert_eq!(decode(&m).unwrap(), Message::Update { relation: 7, old: None, new });

        let old = vec![Cell::Null];
        let mut m = message(b'D');
        tuple(&mut m, b'O', &old);
        assert_eq!(decode(&m).unwrap(), Message::Delete { relation: 7, old: OldTuple::Full(old) });

        let mut m = vec![b'T'];
        m.extend_from_slice(&2i32.to_be_bytes());
        m.push(1);
        m.extend_from_slice(&7u32.to_be_bytes());
        m.extend_from_slice(&8u32.to_be_bytes());
        assert_eq!(
            decode(&m).unwrap(),
            Message::Truncate { relations: vec![7, 8], cascade: true, restart_identity: false }
        );
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[b'I', 0, 0]).is_err());
        let mut m = message(b'I');
        m.push(b'N');
        m.extend_from_slice(&1i16.to_be_bytes());
        m.push(b't');
        m.extend_from_slice(&100i32.to_be_bytes());
        m.extend_from_slice(b"short");
        let e = decode(&m).unwrap_err();
        assert_eq!(e.tag, 'I');
        assert!(e.reason.contains("truncated"), "{e}");
        let mut m = message(b'D');
        m.push(b'X');
        assert!(decode(&m).is_err());
        assert_eq!(decode(b"B").unwrap(), Message::Other(b'B'));
    }
}
