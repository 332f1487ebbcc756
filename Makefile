# Developer entry points. `make fuzz FUZZTIME=2m` fuzzes longer.

FUZZTIME ?= 30s

.PHONY: test fuzz bench ci

# The test suite, as the README runs it.
test:
	go test -race -count=1 ./...

# Every fuzz target of the module, one after the other, FUZZTIME each.
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

bench:
	go run ./cmd/carcosa-bench

# What CI runs: installs and starts what the tests need, then the tests.
ci:
	bash .ci/run
