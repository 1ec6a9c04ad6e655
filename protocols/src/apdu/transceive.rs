//! One command–response exchange over any transmit function, with the
//! T=0-style follow-ups cards ask for: `61xx` (fetch the rest with GET
//! RESPONSE) and `6Cxx` (re-issue the command with the Le the card gives).
//! The transmit function is the only I/O, supplied by the caller (a PC/SC
//! reader, a simulator, a test closure).

use super::command::{ApduError, Command, Response};

/// Most GET RESPONSE rounds one exchange may take. Chip-profile answers are
/// under 256 bytes (one round); 64 rounds allow 16 KiB and stop a card that
/// keeps answering `61xx` from holding the reader forever.
pub const MAX_GET_RESPONSE: usize = 64;

/// INS of GET RESPONSE.
const INS_GET_RESPONSE: u8 = 0xC0;

/// The caller's transmit function: command APDU bytes in, response APDU
/// bytes out (a PC/SC `SCardTransmit`, a simulator, a test closure).
pub type Transmit<'a, E> = dyn FnMut(&[u8]) -> Result<Vec<u8>, E> + 'a;

/// A failed exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransceiveError<E> {
    /// The reader (transmit function) failed.
    #[error("the card reader failed: {0}")]
    Transport(#[source] E),
    /// The command cannot be encoded.
    #[error("the command cannot be sent: {0}")]
    Encode(#[source] ApduError),
    /// The card answered fewer than two bytes.
    #[error(
        "the card's answer of {len} bytes has no status word: reseat the card and retry; replace it if this repeats"
    )]
    Malformed {
        /// Bytes received.
        len: usize,
    },
    /// The card kept answering `61xx`.
    #[error(
        "the card asked for more than {limit} GET RESPONSE rounds: the card is faulty or not the expected card"
    )]
    TooManyGetResponse {
        /// The bound that was hit ([`MAX_GET_RESPONSE`]).
        limit: usize,
    },
}

/// Sends `cmd` through `transmit` and returns the card's final answer:
/// data gathered over any `61xx` GET RESPONSE rounds (at most
/// [`MAX_GET_RESPONSE`]), and the last status word. On `6Cxx` the command
/// is re-issued once with Le = xx (a second `6Cxx` is returned as is).
/// Status words other than these come back in the [`Response`], errors or
/// not: what they mean is the caller's business.
pub fn transceive<E>(
    transmit: &mut Transmit<'_, E>,
    cmd: &Command,
) -> Result<Response, TransceiveError<E>> {
    let mut exchange = |c: &Command| -> Result<Response, TransceiveError<E>> {
        let bytes = c.to_bytes().map_err(TransceiveError::Encode)?;
        let reply = transmit(&bytes).map_err(TransceiveError::Transport)?;
        Response::parse(&reply).map_err(|_| TransceiveError::Malformed { len: reply.len() })
    };
    let mut reply = exchange(cmd)?;
    if let Some(le) = reply.sw.correct_le() {
        reply = exchange(&cmd.clone().with_le(le))?;
    }
    let mut data = Vec::new();
    let mut rounds = 0;
    while let Some(n) = reply.sw.more_data_available() {
        if rounds == MAX_GET_RESPONSE {
            return Err(TransceiveError::TooManyGetResponse {
                limit: MAX_GET_RESPONSE,
            });
        }
        rounds += 1;
        data.append(&mut reply.data);
        let get_response = Command::new(0x00, INS_GET_RESPONSE, 0, 0).with_le(n);
        reply = exchange(&get_response)?;
        if let Some(le) = reply.sw.correct_le() {
            reply = exchange(&get_response.with_le(le))?;
        }
    }
    data.append(&mut reply.data);
    Ok(Response::new(data, reply.sw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::StatusWord;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("test hex")
    }

    /// A scripted card: each expected command with its reply, in order.
    fn scripted(
        script: Vec<(&'static str, &'static str)>,
    ) -> impl FnMut(&[u8]) -> Result<Vec<u8>, String> {
        let mut script = script.into_iter();
        move |sent: &[u8]| {
            let (expected, reply) = script.next().ok_or("card got an unexpected command")?;
            assert_eq!(hex::encode_upper(sent), expected.replace(' ', ""));
            Ok(h(reply))
        }
    }

    #[test]
    fn get_response_rounds_are_concatenated() {
        let mut card = scripted(vec![
            ("00B2012C00", "0102 6103"),
            ("00C0000003", "030405 6102"),
            ("00C0000002", "0607 9000"),
        ]);
        let r =
            transceive(&mut card, &Command::new(0, 0xB2, 1, 0x2C).with_le(256)).expect("exchange");
        assert_eq!(r, Response::ok(h("01020304050607")));
    }

    #[test]
    fn wrong_le_is_corrected_once() {
        let mut card = scripted(vec![
            ("80CADF0100", "6C10"),
            ("80CADF0110", "00112233445566778899AABBCCDDEEFF 9000"),
        ]);
        let r = transceive(&mut card, &Command::new(0x80, 0xCA, 0xDF, 1).with_le(256))
            .expect("exchange");
        assert_eq!(r.sw, StatusWord::OK);
        assert_eq!(r.data.len(), 16);
        let mut stubborn = scripted(vec![("0084000008", "6C08"), ("0084000008", "6C08")]);
        let r =
            transceive(&mut stubborn, &Command::new(0, 0x84, 0, 0).with_le(8)).expect("exchange");
        assert_eq!(r.sw, StatusWord::wrong_le(8));
    }

    #[test]
    fn errors_are_typed() {
        let mut mute = scripted(vec![("00A40000", "90")]);
        assert!(matches!(
            transceive(&mut mute, &Command::new(0, 0xA4, 0, 0)),
            Err(TransceiveError::Malformed { len: 1 })
        ));
        let mut broken = |_: &[u8]| -> Result<Vec<u8>, String> { Err("reader unplugged".into()) };
        let err = transceive(&mut broken, &Command::new(0, 0xA4, 0, 0)).expect_err("no reader");
        assert!(err.to_string().contains("reader unplugged"), "{err}");
        let mut endless = |_: &[u8]| -> Result<Vec<u8>, String> { Ok(h("00 6101")) };
        assert!(matches!(
            transceive(&mut endless, &Command::new(0, 0xB0, 0, 0).with_le(1)),
            Err(TransceiveError::TooManyGetResponse { limit: 64 })
        ));
        let mut unused = scripted(vec![]);
        assert!(matches!(
            transceive(&mut unused, &Command::new(0, 0, 0, 0).with_le(0)),
            Err(TransceiveError::Encode(ApduError::LeOutOfRange { le: 0 }))
        ));
    }
}
