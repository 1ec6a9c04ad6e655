//! Command APDU parsing (what the simulated card reads from the hub): never
//! panics, and whatever parses re-encodes to a command that parses the same.
#![no_main]

use cardhub_protocols::apdu::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = Command::parse(data) {
        let _ = cmd.case();
        let bytes = cmd.to_bytes().expect("a parsed command is encodable");
        assert_eq!(Command::parse(&bytes), Ok(cmd));
    }
});
