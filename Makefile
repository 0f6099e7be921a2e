GO ?= go

.PHONY: build test vet cross compat windows fuzz bench

# Static binaries: a cgo-free `token` starts about 0.3 ms sooner.
build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/tokend ./cmd/token

# Everything CI runs: formatting, vet, the cross builds, all tests with the
# race detector (unit, integration against the emulator, and the end-to-end
# tests in internal/e2e) with a real Secret Service (gnome-keyring on a private
# D-Bus session, see scripts/with-keyring.sh), the Windows lane under Wine,
# then short fuzz runs.
test: vet cross
	scripts/with-keyring.sh $(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) compat
	$(MAKE) windows
	$(MAKE) fuzz

# The real clients (azidentity, MSAL managed identity, client-go, git) live in
# a test module of their own, so the product's go.mod stays lean.
compat:
	cd internal/compattest && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 30m ./...

# The Windows lane: the packages with Windows code and the two binaries end
# to end, built for Windows and run under Wine in a throwaway prefix
# (scripts/wine/lane.sh; needs wine64 and gcc-mingw-w64-x86-64).
windows:
	GO=$(GO) scripts/wine/lane.sh

# Static checks: gofmt, go vet (also for Windows), go.mod and go.sum exactly
# what the code needs (both modules), and staticcheck (fetched through the
# module proxy at a pinned version, so CI needs nothing installed for it).
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
vet:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	$(GO) mod tidy -diff
	cd internal/compattest && $(GO) mod tidy -diff
	$(STATICCHECK) ./...
	cd internal/compattest && $(STATICCHECK) ./...

cross:
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...

# Short fuzz runs, each a budget of executions (about 10 s on 2 cores), not of
# time: with a duration, Go 1.26's coordinator can report its own deadline as
# a failure ("context deadline exceeded", no crasher; golang/go#75804, fixed in
# Go 1.27), which failed CI once. A count has no deadline to race. New inputs
# are minimized for at most 1000 calls, for the same reason and because
# FuzzDecode's seeds are whole PFX files (2.5 KB) whose default 60 s
# minimization once took all of a run. FUZZX multiplies every budget.
FUZZX ?= 1
FUZZ = $(GO) test -run '^$$' -fuzzminimizetime 1000x
fuzz:
	$(FUZZ) -fuzz '^FuzzParse$$' -fuzztime $$((500000 * $(FUZZX)))x ./internal/config
	$(FUZZ) -fuzz '^FuzzTokenRequest$$' -fuzztime $$((150000 * $(FUZZX)))x ./entraemu
	$(FUZZ) -fuzz '^FuzzGitCredential$$' -fuzztime $$((200000 * $(FUZZX)))x ./internal/tokencli
	$(FUZZ) -fuzz '^FuzzExecInfo$$' -fuzztime $$((200000 * $(FUZZX)))x ./internal/tokencli
	$(FUZZ) -fuzz '^FuzzGuards$$' -fuzztime $$((120000 * $(FUZZX)))x ./daemon
	$(FUZZ) -fuzz '^FuzzTokenQuery$$' -fuzztime $$((120000 * $(FUZZX)))x ./daemon
	$(FUZZ) -fuzz '^FuzzAppendJSONString$$' -fuzztime $$((150000 * $(FUZZX)))x ./daemon
	$(FUZZ) -fuzz '^FuzzString$$' -fuzztime $$((400000 * $(FUZZX)))x ./internal/redact
	$(FUZZ) -fuzz '^FuzzAzureCLIToken$$' -fuzztime $$((150000 * $(FUZZX)))x ./internal/entra
	$(FUZZ) -fuzz '^FuzzParseAuthRedirect$$' -fuzztime $$((150000 * $(FUZZX)))x ./internal/entra
	$(FUZZ) -fuzz '^FuzzDecode$$' -fuzztime $$((400000 * $(FUZZX)))x ./internal/pkcs12
	$(FUZZ) -fuzz '^FuzzDiagReply$$' -fuzztime $$((800000 * $(FUZZX)))x ./internal/peercred
	$(FUZZ) -fuzz '^FuzzProcNetTCP$$' -fuzztime $$((600000 * $(FUZZX)))x ./internal/peercred
	$(FUZZ) -fuzz '^FuzzSIDUID$$' -fuzztime $$((600000 * $(FUZZX)))x ./internal/peercred
	$(FUZZ) -fuzz '^FuzzTCPTable$$' -fuzztime $$((700000 * $(FUZZX)))x ./internal/peercred
	$(FUZZ) -fuzz '^FuzzLine$$' -fuzztime $$((500000 * $(FUZZX)))x ./internal/quote
	$(FUZZ) -fuzz '^FuzzEdit$$' -fuzztime $$((700000 * $(FUZZX)))x ./internal/databrickscfg
	cd internal/compattest && $(FUZZ) -fuzz '^FuzzDatabricksCfgParser$$' -fuzztime $$((70000 * $(FUZZX)))x .

bench:
	bash bench/run.sh
