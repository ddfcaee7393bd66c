# bintap: make build | make test | make bench | make demo
GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BROWSER_TEST := internal/server/testdata/browser

.PHONY: build test bench demo setup vet clean fuzz torture

# The binary is linked to a scratch file and copied into place: the Go
# linker writes its output through a shared mapping, which leaves the file's
# pages in large folios in the page cache (ext4, Linux 6.16+); a process
# started from such a file maps whole folios and shows about 23 MB more
# peak RSS (54 MB at `bintap --version`, 31 MB for the copied file). A copied,
# installed or downloaded binary does not have this.
build:
	$(GO) build -o bin/.bintap.link ./cmd/bintap
	cp bin/.bintap.link bin/.bintap.copy && mv bin/.bintap.copy bin/bintap && rm -f bin/.bintap.link

# setup installs what the build, the tests, the benchmark and the demo need
# when it is missing (gcc and libc6-dev: the change index uses the cgo SQLite
# driver; pgloader: the benchmark's row p0; time: GNU time, which measures
# the benchmark's peak RSS per row; openssh-server: the SSH tunnel
# tests start a private sshd; chromium, nodejs and npm, then playwright-core
# from npm: the dashboard's browser test, which drives Debian's chromium and
# never downloads a browser).
setup:
	@missing=""; \
	[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || missing="$$missing mariadb-server"; \
	command -v mariadb-binlog >/dev/null 2>&1 || missing="$$missing mariadb-client"; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v pgloader >/dev/null 2>&1 || missing="$$missing pgloader"; \
	[ -x /usr/bin/time ] || missing="$$missing time"; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	[ -e /usr/include/stdio.h ] || missing="$$missing libc6-dev"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(GO) >/dev/null 2>&1 || { echo "Go is required (https://go.dev/doc/install)"; exit 1; }
	@[ -d $(BROWSER_TEST)/node_modules/playwright-core ] || (cd $(BROWSER_TEST) && npm ci --no-audit --no-fund)

vet:
	$(GO) vet ./...

test: setup vet
	$(GO) test -count=1 -timeout 40m ./...

# fuzz runs every fuzz target for FUZZTIME each (go test runs only their
# seed corpora). A failing input is written under the package's
# testdata/fuzz/ and stays a regression test once committed.
FUZZTIME ?= 60s
FUZZPARALLEL ?= 2
FUZZ_TARGETS := \
	internal/binlog:FuzzBinlogFile internal/binlog:FuzzRowsEvent internal/binlog:FuzzJSONBinary \
	internal/binlog:FuzzGeometry internal/binlog:FuzzDecimal internal/schema:FuzzApplyDDL \
	internal/position:FuzzCheckpoint internal/position:FuzzGTIDState internal/config:FuzzLoad \
	internal/config:FuzzDBURL internal/config:FuzzRedact internal/index:FuzzBlock \
	internal/sink/files:FuzzSpoolReader internal/sink/files:FuzzTextReaders internal/sink/files:FuzzManifest \
	internal/binlog:FuzzCompressedValue internal/schema:FuzzHistoryFile internal/snapshot:FuzzSignal \
	internal/snapshot:FuzzStateFiles
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s -parallel $(FUZZPARALLEL) ./$$pkg; \
	done

# torture runs the fault-injection harness at full size (internal/torture:
# 1,000,000 changes with DDL, 50+ kill -9 of two streams, 20 source
# restarts, connection cuts, disk full); make test runs a short version.
# BINTAP_TORTURE_CHANGES and BINTAP_TORTURE_SEED change the run.
torture: setup
	@BINTAP_TORTURE=long $(GO) test -count=1 -timeout 3h -v -run . ./internal/torture/ > torture.log 2>&1; rc=$$?; \
	grep -E '^(--- |\s+\S+\.go:[0-9]+: (TORTURE|OUTAGE|DISKFULL|disk full|seed|faults|workload|w\.))|^(ok|FAIL)' torture.log; \
	echo "(full log: torture.log)"; exit $$rc

bench: setup build
	$(GO) run ./cmd/bintap-bench -bintap bin/bintap $(BENCHFLAGS)

demo: setup build
	$(GO) run ./cmd/bintap-demo -bintap bin/bintap

clean:
	rm -rf bin bintap-state torture.log
