//! Builders for the commands of the chip profile (docs/chip-profile.md,
//! "Commands the hub sends and the card implements"), byte for byte. Commands
//! that carry a MAC are built without it, with their secure-messaging CLA;
//! [`super::sm::mac_command`] appends it. The PIN commands are in
//! [`super::pin`].

use crate::apdu::Command;
use crate::apdu::tlv;

use super::profile::{self, cla, fcp, ins, read_mode, select};

/// SELECT the MF (`00 A4 00 00 02 3F00`).
pub fn select_mf() -> Command {
    select_fid(select::BY_FID, profile::fid::MF)
}

/// SELECT the SSSE by name (`00 A4 04 00 0F name`).
pub fn select_ssse() -> Command {
    Command::new(cla::PLAIN, ins::SELECT, select::BY_NAME, 0).with_data(profile::SSSE_NAME)
}

/// SELECT an EF under the current DF (`00 A4 02 00 02 FID`).
pub fn select_ef(fid: u16) -> Command {
    select_fid(select::EF_BY_FID, fid)
}

fn select_fid(p1: u8, fid: u16) -> Command {
    Command::new(cla::PLAIN, ins::SELECT, p1, 0).with_data(fid.to_be_bytes())
}

/// READ RECORD of `tag` from the EF with short id `sfi`, by tag
/// (`00 B2 tag SFI<<3|0 00`): the card answers `tag len value`, whatever
/// the record's length.
pub fn read_record(sfi: u8, tag: u8) -> Command {
    Command::new(
        cla::PLAIN,
        ins::READ_RECORD,
        tag,
        sfi << 3 | read_mode::BY_TAG,
    )
    .with_le(256)
}

/// UPDATE RECORD of `tag` in the EF `sfi` with `value`, without its MAC
/// (`04 DC tag SFI<<3|0 Lc tag len value`). Refuses a value over 255
/// bytes (every profile record is far shorter).
pub fn update_record(sfi: u8, tag: u8, value: &[u8]) -> Result<Command, tlv::TlvError> {
    let data = tlv::encode_record(tag, value)?;
    Ok(Command::new(
        cla::SM,
        ins::UPDATE_RECORD,
        tag,
        sfi << 3 | read_mode::BY_TAG,
    )
    .with_data(data))
}

/// GET CHALLENGE of 8 bytes (`00 84 00 00 08`).
pub fn get_challenge() -> Command {
    Command::new(cla::PLAIN, ins::GET_CHALLENGE, 0, 0).with_le(profile::CHALLENGE_LEN)
}

/// EXTERNAL AUTHENTICATE with key `key_id` (`00 82 00 KID Lc cryptogram`).
pub fn external_authenticate(key_id: u8, cryptogram: &[u8]) -> Command {
    Command::new(cla::PLAIN, ins::EXTERNAL_AUTHENTICATE, 0, key_id).with_data(cryptogram)
}

/// INTERNAL AUTHENTICATE with key `key_id` (`00 88 00 KID 08 data 00`).
pub fn internal_authenticate(key_id: u8, data: &[u8; 8]) -> Command {
    Command::new(cla::PLAIN, ins::INTERNAL_AUTHENTICATE, 0, key_id)
        .with_data(data.to_vec())
        .with_le(256)
}

/// GET DATA of a two-byte tag (`80 CA P1 P2 00`).
pub fn get_data(tag: u16) -> Command {
    let [p1, p2] = tag.to_be_bytes();
    Command::new(cla::PROPRIETARY, ins::GET_DATA, p1, p2).with_le(256)
}

/// CREATE FILE of the SSSE DF, without MAC (`84 E0 00 00 Lc FCP`).
pub fn create_ssse() -> Command {
    let body = [
        tlv::encode(fcp::DESCRIPTOR, &[fcp::TYPE_DF]),
        tlv::encode(fcp::FILE_ID, &profile::fid::SSSE.to_be_bytes()),
        tlv::encode(fcp::DF_NAME, profile::SSSE_NAME),
    ]
    .concat();
    create_file(&body)
}

/// CREATE FILE of a record EF (EF05 or EF06) with its record template,
/// without MAC.
pub fn create_record_ef(fid: u16, sfi: u8, template: &[profile::RecordField]) -> Command {
    let records: Vec<u8> = template.iter().flat_map(|f| [f.tag, f.len]).collect();
    let body = [
        tlv::encode(fcp::DESCRIPTOR, &[fcp::TYPE_RECORD_EF]),
        tlv::encode(fcp::FILE_ID, &fid.to_be_bytes()),
        tlv::encode(fcp::SFI, &[sfi]),
        tlv::encode(fcp::RECORD_TEMPLATE, &records),
    ]
    .concat();
    create_file(&body)
}

fn create_file(fcp_body: &[u8]) -> Command {
    Command::new(cla::PROPRIETARY_SM, ins::CREATE_FILE, 0, 0)
        .with_data(tlv::encode(fcp::TEMPLATE, fcp_body))
}

/// WRITE KEY without MAC (`84 D4 01 KID Lc usage alg tries wrapped`).
pub fn write_key(key_id: u8, usage: u8, algorithm: u8, tries: u8, wrapped: &[u8]) -> Command {
    let mut data = vec![usage, algorithm, tries];
    data.extend_from_slice(wrapped);
    Command::new(
        cla::PROPRIETARY_SM,
        ins::WRITE_KEY,
        profile::WRITE_KEY_P1,
        key_id,
    )
    .with_data(data)
}

/// SET STATUS to a life-cycle byte, without MAC (`84 F0 80 state`; Lc 04
/// once the MAC is appended).
pub fn set_status(state: u8) -> Command {
    Command::new(
        cla::PROPRIETARY_SM,
        ins::SET_STATUS,
        profile::SET_STATUS_P1,
        state,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(cmd: &Command) -> String {
        hex::encode_upper(cmd.to_bytes().expect("encodable"))
    }

    #[test]
    fn commands_are_the_profile_bytes() {
        assert_eq!(bytes(&select_mf()), "00A40000023F00");
        assert_eq!(
            bytes(&select_ssse()),
            "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
        );
        assert_eq!(bytes(&select_ef(0x0005)), "00A40200020005");
        assert_eq!(bytes(&read_record(6, 0x09)), "00B2093000");
        assert_eq!(bytes(&read_record(5, 0x01)), "00B2012800");
        assert_eq!(bytes(&get_challenge()), "0084000008");
        assert_eq!(bytes(&get_data(0xDF01)), "80CADF0100");
        assert_eq!(
            bytes(&update_record(6, 0x0A, b"1").expect("short")),
            "04DC0A30030A0131"
        );
        assert!(update_record(6, 0x0A, &[0; 256]).is_err());
        assert_eq!(bytes(&set_status(0x07)), "84F08007");
        assert_eq!(
            bytes(&internal_authenticate(2, &[1; 8])),
            "0088000208010101010101010100"
        );
    }

    #[test]
    fn create_file_carries_the_fcp() {
        let fcp = ["820138", "83020001", "840F7378312E73682EC9E7BBE1B1A3D5CF"].concat();
        assert_eq!(bytes(&create_ssse()), format!("84E000001A6218{fcp}"));
        let ef = create_record_ef(0x0005, 5, &profile::EF05_RECORDS);
        let data = &ef.data;
        let top = tlv::parse(data).expect("tlv");
        let kids = top[0].children().expect("constructed");
        let tags: Vec<u32> = kids.iter().map(|t| t.tag).collect();
        assert_eq!(tags, vec![0x82, 0x83, 0x88, 0xA1]);
        assert_eq!(kids[2].value, &[5]);
        assert_eq!(kids[3].value, &[1, 16, 2, 1, 3, 4, 4, 12, 5, 4, 6, 4, 7, 9]);
    }
}
