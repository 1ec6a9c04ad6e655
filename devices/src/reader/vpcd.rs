//! The names pcscd gives the vpcd virtual readers of the PC/SC test rig
//! (`scripts/pcsc-rig.sh`), and the TCP port a simulated card connects to
//! for each.
//!
//! Checked against pcsc-lite 1.9.9 with vsmartcard-vpcd 3.3: the rig's
//! reader.conf has N entries (default 4); entry k listens on port
//! P = 35963 + 2k and is named `"cardhub vpcd P"`. vpcd gives every entry
//! two slots, listening on P and P+1, and pcscd names them
//! `"<friendly name> 00 00"` and `"<friendly name> 00 01"`:
//!
//! | reader index | card connects to | reader name |
//! | --- | --- | --- |
//! | 0 | 127.0.0.1:35963 | `cardhub vpcd 35963 00 00` |
//! | 1 | 127.0.0.1:35964 | `cardhub vpcd 35963 00 01` |
//! | 2 | 127.0.0.1:35965 | `cardhub vpcd 35965 00 00` |
//! | 3 | 127.0.0.1:35966 | `cardhub vpcd 35965 00 01` |
//! | ... | 35963 + i | |
//!
//! The port is part of the friendly name because pcscd 1.9.9 names every
//! entry that shares a friendly name `"... 00 00"`/`"... 00 01"` alike,
//! which would leave several readers with one name. And every entry loads
//! its own copy of the vpcd driver: vpcd keeps its slots in one static
//! array, and pcscd loads a driver path once for all entries naming it, so
//! entries sharing the system's driver all end up on the last entry's
//! ports.
//!
//! This module only computes names; the rig's per-test reader leases are in
//! `cardhub_devices::rig` (feature `rig`).

/// The card port of the rig's first vpcd reader (vpcd's own default port,
/// 0x8C7B).
pub const VPCD_FIRST_PORT: u16 = 35963;

/// The start of every rig reader's name: `"cardhub vpcd"`. Useful as a
/// [`MonitorConfig`](super::MonitorConfig) name prefix.
pub const VPCD_FRIENDLY_NAME: &str = "cardhub vpcd";

/// The TCP port a simulated card connects to so that it appears in the rig
/// reader number `index` (0-based): `35963 + index`.
///
/// # Panics
/// If the port would pass 65535 (an index above 29572; the rig has 8).
pub fn vpcd_card_port(index: usize) -> u16 {
    u16::try_from(usize::from(VPCD_FIRST_PORT) + index)
        .expect("vpcd reader index beyond the TCP port range")
}

/// The name pcscd gives the rig reader number `index` (0-based), e.g.
/// `vpcd_reader_name(0) == "cardhub vpcd 35963 00 00"` and
/// `vpcd_reader_name(1) == "cardhub vpcd 35963 00 01"`.
///
/// # Panics
/// As [`vpcd_card_port`].
pub fn vpcd_reader_name(index: usize) -> String {
    let entry_port = vpcd_card_port(index - index % 2);
    format!("{VPCD_FRIENDLY_NAME} {entry_port} 00 {:02X}", index % 2)
}

/// The rig reader index for a card port (the inverse of
/// [`vpcd_card_port`]); `None` below the first port.
pub fn vpcd_reader_index(card_port: u16) -> Option<usize> {
    card_port.checked_sub(VPCD_FIRST_PORT).map(usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rig_reader_conf() {
        assert_eq!(vpcd_reader_name(0), "cardhub vpcd 35963 00 00");
        assert_eq!(vpcd_reader_name(1), "cardhub vpcd 35963 00 01");
        assert_eq!(vpcd_reader_name(2), "cardhub vpcd 35965 00 00");
        assert_eq!(vpcd_reader_name(7), "cardhub vpcd 35969 00 01");
    }

    #[test]
    fn ports_and_indexes_are_inverse() {
        assert_eq!(vpcd_card_port(0), 35963);
        assert_eq!(vpcd_card_port(1), 35964);
        assert_eq!(vpcd_card_port(7), 35970);
        for i in 0..16 {
            assert_eq!(vpcd_reader_index(vpcd_card_port(i)), Some(i));
        }
        assert_eq!(vpcd_reader_index(35962), None);
    }
}
