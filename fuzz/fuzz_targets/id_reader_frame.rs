//! The ID card reader's frames and text blocks (what the hub reads from a
//! reader): random bytes split at a fuzzer-chosen point never panic and
//! decode alike however split; every frame re-encodes to its own bytes;
//! every response, read answer and text block that decodes survives a
//! round trip, and its number check never panics.
#![no_main]

use cardhub_protocols::id_reader::{
    Frame, FrameDecoder, IdCard, NaiveDate, ReadAnswer, ReadMode, Response, TEXT_LEN,
};
use libfuzzer_sys::fuzz_target;

fn decode(pieces: &[&[u8]]) -> Vec<Result<Vec<u8>, String>> {
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(event) = decoder.decode() {
            if let Ok(frame) = &event {
                let bytes = frame.to_bytes();
                assert_eq!(Frame::check(&bytes), Ok(bytes.len()));
                assert_eq!(Frame::parse(&bytes).as_ref(), Ok(frame));
                if let Ok(response) = Response::from_frame(frame) {
                    assert_eq!(response.to_bytes(), bytes);
                    for mode in [ReadMode::TextAndPhoto, ReadMode::WithFingerprints] {
                        if let Ok(answer) = ReadAnswer::parse(response.data(), mode) {
                            assert_eq!(answer.to_data(mode), response.data());
                            text_block(&answer.text[..]);
                        }
                    }
                }
            }
            out.push(event.map(|f| f.body().to_vec()).map_err(|e| e.to_string()));
        }
    }
    out
}

fn text_block(block: &[u8]) {
    if let Ok(card) = IdCard::decode(block) {
        let today = NaiveDate::from_ymd_opt(2025, 6, 1).expect("a valid date");
        let _ = card.check_number(today).map_err(|e| e.to_string());
        let again = card.encode().expect("a decoded card encodes");
        assert_eq!(IdCard::decode(&again).as_ref(), Ok(&card));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(cut) % (bytes.len() + 1);
    assert_eq!(decode(&[bytes]), decode(&[&bytes[..at], &bytes[at..]]));
    if bytes.len() >= TEXT_LEN {
        text_block(&bytes[..TEXT_LEN]);
    }
});
