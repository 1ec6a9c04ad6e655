//! cardhub-simulators: simulated devices and outside parties. Each sits on the
//! far side of a real transport (TCP, pseudo-terminal, vpcd) and speaks the
//! real wire protocol; none shares memory with the hub it serves.
//!
//! Nothing is here yet: the first simulator (the social security card behind
//! vpcd) arrives with the chip work. Simulators depend on `cardhub-protocols`
//! only.
