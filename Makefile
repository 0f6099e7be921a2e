GO ?= go
FUZZTIME ?= 10s

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
	scripts/with-keyring.sh $(GO) test -race -count=1 ./...
	$(MAKE) compat
	$(MAKE) windows
	$(MAKE) fuzz

# The real clients (azidentity, MSAL managed identity, client-go, git) live in
# a test module of their own, so the product's go.mod stays lean.
compat:
	cd internal/compattest && $(GO) vet ./... && $(GO) test -race -count=1 ./...

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
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	$(GO) mod tidy -diff
	cd internal/compattest && $(GO) mod tidy -diff
	$(STATICCHECK) ./...
	cd internal/compattest && $(STATICCHECK) ./...

cross:
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...

# FuzzDecode's seeds are whole PFX files (2.5 KB): minimizing each new input
# for the default 60 s took all of FUZZTIME (10 calls in 10 s, nothing added
# to the corpus); 1000 calls per minimization leave the time to fuzz.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzTokenRequest$$' -fuzztime $(FUZZTIME) ./entraemu
	$(GO) test -run '^$$' -fuzz '^FuzzGitCredential$$' -fuzztime $(FUZZTIME) ./internal/tokencli
	$(GO) test -run '^$$' -fuzz '^FuzzExecInfo$$' -fuzztime $(FUZZTIME) ./internal/tokencli
	$(GO) test -run '^$$' -fuzz '^FuzzGuards$$' -fuzztime $(FUZZTIME) ./daemon
	$(GO) test -run '^$$' -fuzz '^FuzzTokenQuery$$' -fuzztime $(FUZZTIME) ./daemon
	$(GO) test -run '^$$' -fuzz '^FuzzAppendJSONString$$' -fuzztime $(FUZZTIME) ./daemon
	$(GO) test -run '^$$' -fuzz '^FuzzString$$' -fuzztime $(FUZZTIME) ./internal/redact
	$(GO) test -run '^$$' -fuzz '^FuzzAzureCLIToken$$' -fuzztime $(FUZZTIME) ./internal/entra
	$(GO) test -run '^$$' -fuzz '^FuzzParseAuthRedirect$$' -fuzztime $(FUZZTIME) ./internal/entra
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1000x ./internal/pkcs12
	$(GO) test -run '^$$' -fuzz '^FuzzDiagReply$$' -fuzztime $(FUZZTIME) ./internal/peercred
	$(GO) test -run '^$$' -fuzz '^FuzzProcNetTCP$$' -fuzztime $(FUZZTIME) ./internal/peercred
	$(GO) test -run '^$$' -fuzz '^FuzzLine$$' -fuzztime $(FUZZTIME) ./internal/quote
	$(GO) test -run '^$$' -fuzz '^FuzzEdit$$' -fuzztime $(FUZZTIME) ./internal/databrickscfg

bench:
	bash bench/run.sh
