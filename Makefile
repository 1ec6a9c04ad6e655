# cardhub: the two commands of the README.
#   make run   builds and starts the hub on its embedded default
#   make test  builds and runs the whole test suite
# Both install missing system packages first (scripts/ensure-packages.sh).

CARGO ?= cargo
CARDHUB_CONFIG ?=

.PHONY: run test build lint bench-crypto bench-chip bench-workshop bench-workshop-100 bench-monitor packages-run packages-test

run: packages-run
	$(CARGO) build --release -p cardhub-web --bin cardhub
	scripts/pcsc-rig.sh start || echo "cardhub: the PC/SC rig did not start; the hub runs without card readers"
	./target/release/cardhub serve $(if $(CARDHUB_CONFIG),--config $(CARDHUB_CONFIG),)

test: packages-test
	$(CARGO) build -p cardhub-web --bin cardhub
	scripts/pcsc-rig.sh start
	$(CARGO) test --workspace --all-targets

build: packages-run
	$(CARGO) build --release -p cardhub-web --bin cardhub

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench-crypto: packages-test
	$(CARGO) build --release -p cardhub-web --bin cardhub
	./target/release/cardhub bench crypto

bench-chip: packages-test
	$(CARGO) build --release -p cardhub-web --bin cardhub
	scripts/pcsc-rig.sh start
	./target/release/cardhub bench chip

bench-workshop: packages-test
	$(CARGO) build --release -p cardhub-web --bin cardhub
	scripts/pcsc-rig.sh start
	./target/release/cardhub bench workshop --lines 1,8

# 100 printers with realistic timings: 100 encoders, more readers than
# Debian's pcscd serves, so on pcsc-lite rebuilt for 128 (scripts/pcsc-wide.sh).
bench-workshop-100: packages-test
	$(CARGO) build --release -p cardhub-web --bin cardhub
	scripts/pcsc-wide.sh run ./target/release/cardhub bench workshop --timing realistic \
	  --lines 50 --printers-per-line 2 --cards-per-printer 10 --seconds 120

bench-monitor: packages-run
	$(CARGO) build --release -p cardhub-web --bin cardhub
	./target/release/cardhub bench monitor

packages-run:
	@scripts/ensure-packages.sh run

packages-test:
	@scripts/ensure-packages.sh test
