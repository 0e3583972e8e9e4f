# PocketBase v0.40 needs Go 1.27: let the go command fetch the toolchain that
# go.mod names. A caller's own choice is kept, except "local", which cannot
# build this module with an older Go.
ifeq ($(filter-out local,$(GOTOOLCHAIN)),)
export GOTOOLCHAIN := auto
endif

BINARY := pocketbase

.PHONY: build serve test chromium test-differential bench-routes bench-cache bench-cluster bench-realtime bench-writes bench-clover bench-js-routes

## build: compile the distribution into ./pocketbase
build:
	go build -o $(BINARY) .

## serve: build, then run the server (SQLite in ./pb_data)
serve: build
	./$(BINARY) serve

## test: vet, then run every test with the race detector, and the record
## cache's differential test (10,000 steps) without it
test: chromium
	go vet ./...
	go test -race ./...
	go test -run '^TestCacheDifferential$$' ./plugins/hapta/

## chromium: the browser the Clover login page's tests drive, installed with
## apt-get when it is missing (as root; otherwise install it yourself)
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		{ echo "The tests need Chromium: apt-get install chromium"; exit 1; }

## test-differential: the differential test for 200,000 steps with a new seed
## (SEED=n repeats a run)
test-differential:
	go test -count=1 -timeout 3h -v -run '^TestCacheDifferential$$' ./plugins/hapta/ \
		-args -differential.steps=$(or $(STEPS),200000) -differential.seed=$(or $(SEED),0)

## bench-routes: a hapta route against the same work as a bare PocketBase route
bench-routes:
	go test -run '^$$' -bench BenchmarkRoute -benchmem -count 6 ./plugins/hapta/ | tee bench-routes.txt
	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench-routes.txt

## bench-js-routes: a JavaScript route against the same Go route
bench-js-routes:
	go test -run '^$$' -bench BenchmarkJavaScriptRoute -benchmem -count 6 ./plugins/hapta/ | tee bench-js-routes.txt
	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench-js-routes.txt

## bench-writes: the write modes of the database service against REST saves, over loopback HTTP
bench-writes: build
	go run ./cmd/writebench -binary ./$(BINARY) -write docs/benchmarks.md

## bench-cache: the built binary without and with the record cache, and
## without it behind nginx's 1-second microcache, over loopback HTTP; nginx
## is installed with apt-get when it is missing (as root; otherwise install
## it yourself)
bench-cache: build
	@command -v nginx >/dev/null || /usr/sbin/nginx -v 2>/dev/null || \
		{ [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; } || \
		{ echo "The benchmark needs nginx: apt-get install nginx-light"; exit 1; }
	go run ./cmd/cachebench -binary ./$(BINARY) -write docs/benchmarks.md

## bench-cluster: a 95/5 workload through a primary alone and through two
## edges (each a process of the built binary, NATS embedded in the primary)
bench-cluster: build
	go run ./cmd/clusterbench -binary ./$(BINARY) -ttl 5m -write docs/benchmarks.md

## bench-realtime: the realtime broadcast to 1,000, 5,000 and 10,000
## signed-in subscribers per rule kind, PocketBase's loop beside hapta's
## grouped fan-out
bench-realtime: build
	go run ./cmd/realtimebench -binary ./$(BINARY) -write docs/benchmarks.md

## bench-clover: a Clover token checked offline against an introspection round trip
bench-clover:
	go test -run '^$$' -bench BenchmarkCheckToken -benchmem -count 6 ./plugins/hapta/internal/cloverclient/ | tee bench-clover.txt
	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench-clover.txt
