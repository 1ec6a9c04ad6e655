//! File commands: SELECT (by DF name, by file id for the MF and DFs, by
//! file id for an EF under the current DF), READ RECORD (by tag or by
//! record number, SFI 0 meaning the current EF), UPDATE RECORD (MAC under
//! the maintenance key UK) and CREATE FILE (after EXTERNAL AUTHENTICATE
//! with the transport key KT, MAC under KT, refused once SECURED).

use cardhub_protocols::apdu::{Command, StatusWord, tlv};
use cardhub_protocols::chip::profile::{LifeCycle, cla, fcp, fid, key_id, read_mode, select};

use super::security::without_mac;
use super::{CardOs, Outcome, expect_cla};
use crate::card::memory::{DedicatedFile, DfPath, Record, RecordFile};

/// The largest SFI (five bits; 31 is reserved by ISO 7816-4).
const MAX_SFI: u8 = 30;

/// SELECT P2 values accepted: 00 (return FCI, which this card leaves empty)
/// and 0C (no response data).
const SELECT_P2: [u8; 2] = [0x00, 0x0C];

impl CardOs {
    /// SELECT `00 A4 P1 P2 Lc data`.
    pub(super) fn select(&mut self, cmd: &Command) -> Outcome {
        expect_cla(cmd, cla::PLAIN)?;
        if !SELECT_P2.contains(&cmd.p2) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        match cmd.p1 {
            select::BY_NAME => {
                let path = self
                    .memory
                    .find_df_by_name(&cmd.data)
                    .ok_or(StatusWord::FILE_NOT_FOUND)?;
                self.enter_df(path);
            }
            select::BY_FID => {
                let path = match cmd.data.as_slice() {
                    [] => DfPath::new(),
                    [hi, lo] => self.find_df(u16::from_be_bytes([*hi, *lo]))?,
                    _ => return Err(StatusWord::WRONG_LENGTH),
                };
                self.enter_df(path);
            }
            select::EF_BY_FID => {
                let [hi, lo] = cmd.data.as_slice() else {
                    return Err(StatusWord::WRONG_LENGTH);
                };
                let id = u16::from_be_bytes([*hi, *lo]);
                self.current_df().ef(id).ok_or(StatusWord::FILE_NOT_FOUND)?;
                self.session.ef = Some(id);
            }
            _ => return Err(StatusWord::INCORRECT_P1P2),
        }
        Ok(Vec::new())
    }

    /// READ RECORD `00 B2 P1 P2 Le`: P2 = SFI << 3 | mode; mode 4 reads
    /// record number P1, mode 0 the record with tag P1. The answer is the
    /// record as `tag len value`.
    pub(super) fn read_record(&mut self, cmd: &Command) -> Outcome {
        expect_cla(cmd, cla::PLAIN)?;
        let (ef, mode) = self.record_file(cmd.p2)?;
        let record = match mode {
            read_mode::BY_NUMBER => ef.record_by_number(cmd.p1),
            read_mode::BY_TAG => ef.record_by_tag(cmd.p1),
            _ => return Err(StatusWord::INCORRECT_P1P2),
        }
        .ok_or(StatusWord::RECORD_NOT_FOUND)?;
        let answer = tlv::encode_record(record.tag, &record.value)
            .expect("record values are created at most 255 bytes long");
        self.session.ef = Some(ef.fid);
        Ok(answer)
    }

    /// UPDATE RECORD `04 DC tag P2 Lc tag len value MAC4`: P2 = SFI << 3;
    /// the value must have the record's length; MAC under UK.
    pub(super) fn update_record(&mut self, cmd: &Command, challenge: Option<[u8; 8]>) -> Outcome {
        expect_cla(cmd, cla::SM)?;
        let (ef, mode) = self.record_file(cmd.p2)?;
        if mode != read_mode::BY_TAG {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let ef_id = ef.fid;
        let len = ef
            .record_by_tag(cmd.p1)
            .ok_or(StatusWord::RECORD_NOT_FOUND)?
            .value
            .len();
        self.check_mac(cmd, challenge, key_id::MAINTENANCE)?;
        let (tag, value) =
            tlv::parse_record(without_mac(cmd)).map_err(|_| StatusWord::INCORRECT_DATA)?;
        if tag != cmd.p1 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        if value.len() != len {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let value = value.to_vec();
        let df = self.session.df.clone();
        let record = self
            .memory
            .df_mut(&df)
            .and_then(|d| d.ef_mut(ef_id))
            .and_then(|e| e.record_by_tag_mut(tag))
            .expect("the record was found just above");
        record.value = value;
        self.changed();
        self.session.ef = Some(ef_id);
        Ok(Vec::new())
    }

    /// CREATE FILE `84 E0 00 00 Lc FCP MAC4` under the current DF: a DF
    /// (type 38, with its name) or a record EF (type 04, with its SFI and
    /// record template, records filled with 00). Needs EXTERNAL
    /// AUTHENTICATE with KT in this session and a MAC under KT; refused
    /// with 6985 once the card is SECURED.
    pub(super) fn create_file(&mut self, cmd: &Command, challenge: Option<[u8; 8]>) -> Outcome {
        expect_cla(cmd, cla::PROPRIETARY_SM)?;
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if self.memory.life_cycle >= LifeCycle::Secured {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let kt_at = self
            .memory
            .find_key(&self.session.df, key_id::TRANSPORT)
            .ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        if !self.is_verified(&kt_at, key_id::TRANSPORT) {
            return Err(StatusWord::SECURITY_NOT_SATISFIED);
        }
        self.check_mac(cmd, challenge, key_id::TRANSPORT)?;
        let file = parse_fcp(without_mac(cmd)).ok_or(StatusWord::INCORRECT_DATA)?;
        let clash = match &file {
            NewFile::Df(df) => {
                df.name
                    .as_deref()
                    .is_some_and(|n| self.memory.find_df_by_name(n).is_some())
                    || self.current_df().has_file(df.fid)
            }
            NewFile::Ef(ef) => {
                self.current_df().has_file(ef.fid) || self.current_df().ef_by_sfi(ef.sfi).is_some()
            }
        };
        if clash {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let path = self.session.df.clone();
        let here = self
            .memory
            .df_mut(&path)
            .expect("the current DF exists in memory");
        match file {
            NewFile::Df(df) => here.dfs.push(df),
            NewFile::Ef(ef) => here.efs.push(ef),
        }
        self.changed();
        Ok(Vec::new())
    }

    /// The current DF.
    pub(super) fn current_df(&self) -> &DedicatedFile {
        self.memory
            .df(&self.session.df)
            .expect("the current DF exists in memory")
    }

    /// A DF by file id for SELECT: the MF, a child of the current DF, or a
    /// child of the MF.
    fn find_df(&self, id: u16) -> Result<DfPath, StatusWord> {
        if id == fid::MF {
            return Ok(DfPath::new());
        }
        if self.current_df().child(id).is_some() {
            let mut path = self.session.df.clone();
            path.push(id);
            return Ok(path);
        }
        if self.memory.mf.child(id).is_some() {
            return Ok(vec![id]);
        }
        Err(StatusWord::FILE_NOT_FOUND)
    }

    /// The record EF a READ/UPDATE RECORD P2 names (SFI 0: the current EF)
    /// and the mode bits.
    fn record_file(&self, p2: u8) -> Result<(&RecordFile, u8), StatusWord> {
        let (sfi, mode) = (p2 >> 3, p2 & 0x07);
        let df = self.current_df();
        let ef = if sfi == 0 {
            self.session.ef.and_then(|id| df.ef(id))
        } else {
            df.ef_by_sfi(sfi)
        };
        Ok((ef.ok_or(StatusWord::FILE_NOT_FOUND)?, mode))
    }
}

/// A file described by a CREATE FILE FCP.
enum NewFile {
    Df(DedicatedFile),
    Ef(RecordFile),
}

/// Parses `62 L { 82 01 type; 83 02 FID; 84 L name; 88 01 SFI; A1 L
/// (tag len)* }`; `None` for anything malformed or inconsistent.
fn parse_fcp(data: &[u8]) -> Option<NewFile> {
    let (template, rest) = tlv::parse_one(data).ok()?;
    if template.tag != fcp::TEMPLATE || !rest.is_empty() {
        return None;
    }
    let field = |tag| template.find(tag).ok().flatten().map(|t| t.value);
    let [kind] = field(fcp::DESCRIPTOR)? else {
        return None;
    };
    let [hi, lo] = field(fcp::FILE_ID)? else {
        return None;
    };
    let id = u16::from_be_bytes([*hi, *lo]);
    if id == fid::MF {
        return None;
    }
    match *kind {
        fcp::TYPE_DF => {
            let name = field(fcp::DF_NAME).map(<[u8]>::to_vec);
            if name.as_ref().is_some_and(|n| n.is_empty() || n.len() > 16) {
                return None;
            }
            Some(NewFile::Df(DedicatedFile::new(id, name)))
        }
        fcp::TYPE_RECORD_EF => {
            let [sfi] = field(fcp::SFI)? else {
                return None;
            };
            if !(1..=MAX_SFI).contains(sfi) {
                return None;
            }
            let records = parse_template(field(fcp::RECORD_TEMPLATE)?)?;
            Some(NewFile::Ef(RecordFile {
                fid: id,
                sfi: *sfi,
                records,
            }))
        }
        _ => None,
    }
}

/// The record template `(tag len)*`: distinct tags, non-zero lengths;
/// records start filled with 00.
fn parse_template(template: &[u8]) -> Option<Vec<Record>> {
    if !template.len().is_multiple_of(2) {
        return None;
    }
    let mut records: Vec<Record> = Vec::new();
    for pair in template.chunks_exact(2) {
        let (tag, len) = (pair[0], pair[1]);
        if len == 0 || records.iter().any(|r| r.tag == tag) {
            return None;
        }
        records.push(Record {
            tag,
            value: vec![0; usize::from(len)],
        });
    }
    Some(records)
}
