# Vigil — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
GEOIP_DB := .cache/geoip/country.mmdb
STATICCHECK_VERSION := v0.8.2

.PHONY: help setup geoip chdb build test lint fuzz bench demo clean screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install missing prerequisites (ClickHouse, Dovecot, Postfix, GeoIP sources, Go modules)
	@scripts/setup.sh

geoip: setup ## fetch the CC BY 4.0 GeoIP data: .cache/geoip/country.mmdb, DB-IP Lite City files
	@scripts/fetch-geoip.sh
	@scripts/fetch-geoip-city.sh

chdb: setup ## fetch chDB (a current ClickHouse as a library) for the SQL check into .cache/chdb
	@scripts/fetch-chdb.sh

build: ## build every binary into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

test: setup chdb geoip ## run every test (starts private NATS, ClickHouse, Dovecot and Postfix servers)
	VIGIL_TEST_REQUIRE_DATA=1 $(GO) test -count=1 -timeout 15m ./...
	$(GO) test -race -count=1 -timeout 10m ./internal/detector ./internal/dovecot ./internal/postfix ./internal/trustkv ./internal/maillog ./internal/ingest ./internal/authapi ./internal/notify

lint: ## run staticcheck (pinned, installed from the module proxy) with staticcheck.conf
	@sc="$$($(GO) env GOPATH)/bin/staticcheck"; \
	"$$sc" -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION))' || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	"$$sc" ./...

fuzz: ## run each fuzz target for 20 seconds
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; \
	  done; \
	done

bench: setup geoip build ## measure Vigil against raw JetStream and ClickHouse baselines
	$(BIN)/vigil bench
	$(GO) test -run '^$$' -bench . -benchmem ./internal/event ./internal/window ./internal/engine ./internal/geo ./internal/netset

demo: setup geoip build ## start the single-node pipeline, feed it a generated day, print the incidents
	scripts/demo.sh

screenshots: setup ## regenerate docs/screenshots/ (the console's browser tests in chromium)
	mkdir -p docs/screenshots
	VIGIL_TEST_REQUIRE_DATA=1 VIGIL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'InBrowser' ./internal/console

clean: ## remove build output and demo data (keeps the GeoIP cache)
	rm -rf $(BIN) .cache/demo
