//! EF05/EF06 record decoding and chip text: the input is read as a run of
//! simple records `tag len value` (what READ RECORD returns); the decoders
//! must never panic, whatever the card carries.
#![no_main]

use cardhub_protocols::apdu::tlv;
use cardhub_protocols::chip::data::{CardRecords, HolderRecords, RecordValues};
use cardhub_protocols::chip::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = text::decode_gbk("name", data);
    let _ = text::decode_ascii("ssn", data);
    let (head, tail) = data.split_at(data.len().min(30));
    let _ = text::decode_name(head, tail);
    if let Ok(records) = tlv::parse_records(data) {
        let values: RecordValues = records
            .into_iter()
            .map(|(tag, value)| (tag, value.to_vec()))
            .collect();
        let _ = CardRecords::decode(&values);
        let _ = HolderRecords::decode(&values);
    }
});
