//! The card printer command language (Evolis-style escape commands): being
//! written; see `docs/printer-protocol.md` once it lands.
