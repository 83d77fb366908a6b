# The two commands a newcomer needs are `make run` and `make test`; both
# install what is missing first (scripts/setup.sh, Debian packages only).

GO        ?= go
FUZZTIME  ?= 5s
# Fuzz targets run briefly in `make test` and for FUZZTIME_LONG in `make fuzz`.
FUZZTIME_LONG ?= 5m
FUZZ_TARGETS = \
	./authd/certverify:FuzzParseCertificates \
	./authd/certverify:FuzzVerifyChain \
	./authd/certverify:FuzzCRLParse \
	./authd/certverify:FuzzOCSPResponse \
	./authd/certverify:FuzzNamesEqual \
	./authd/certverify:FuzzParseNameConstraints \
	./authd/caserve:FuzzParseOCSPRequest \
	./authd/login:FuzzLoginRequest \
	./authd/login:FuzzBearerToken \
	./sessions:FuzzParseToken \
	./registration:FuzzIdentifiers \
	./registration:FuzzName \
	./registration:FuzzNHSNumber \
	./registration:FuzzPatientInput \
	./testkeys/vcard:FuzzParseCommand \
	./testkeys/vcard:FuzzCard \
	./testkeys/vcard:FuzzVPCD \
	./testkeys/vcard:FuzzTLV \
	./cardagent:FuzzDecodeAnswer \
	./cardagent:FuzzParseRoleRequest \
	./cardagent:FuzzParseEventsQuery \
	./cardagent:FuzzPickRole \
	./authd/ra:FuzzRARequest \
	./registration:FuzzAuditChain

.PHONY: all setup run test vet unit policy-coverage fuzz-short fuzz bench bench-pdp testkeys

all: test

setup:
	@bash scripts/setup.sh

# The embedded default: SQLite and in-memory sessions under .authd-dev,
# the committed test PKI, demo people, roles and SoftHSM tokens; it prints
# what to try next.
run: setup
	$(GO) run ./cmd/authd dev

test: setup vet unit policy-coverage fuzz-short

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

# The Rego unit tests also run inside `unit`; this shows their coverage.
policy-coverage:
	@$(GO) test -count=1 -v -run 'TestRegoPolicies$$' ./rego | grep -E 'Rego tests ran|coverage of|^(ok|FAIL)'

fuzz-short:
	@FUZZ_MINIMIZE=0 bash scripts/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME_LONG) $(FUZZ_TARGETS)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./authd/certverify ./authd/server ./sessions ./registration | tee bench.out

# Regenerates the committed test PKI (fresh keys); commit the result.
testkeys:
	$(GO) run ./testkeys/cmd/genpki -out testkeys/pki

# authd's PDP beside OPA's server on the same policy, facts and load, then
# authd's latency as relationships grow (scripts/pdpbench; ~5-10 minutes;
# RELS_MAX=10000000 adds the 10^7 world). Loopback only.
.PHONY: bench-pdp
bench-pdp:
	@bash scripts/pdpbench/run.sh

# The latency worlds only (no side by side), each size on SQLite and on
# PostgreSQL (127.0.0.1:5432, database test, a schema per world; PG_DSN
# names another) in the same run: 10^4 and 10^6 relationships.
.PHONY: bench-pdp-pg bench-pdp-pg-10m
bench-pdp-pg:
	@COMPARE=0 STORES="sqlite postgres" SCALE_RELS="10000 1000000" bash scripts/pdpbench/run.sh

# The same at 10^7 relationships (each world takes minutes to load and
# some GB of disk).
bench-pdp-pg-10m:
	@COMPARE=0 STORES="sqlite postgres" SCALE_RELS="10000000" RELS_MAX=10000000 bash scripts/pdpbench/run.sh
