# PocketBase v0.40 needs Go 1.27: let the go command fetch the toolchain that
# go.mod names. A caller's own choice is kept, except "local", which cannot
# build this module with an older Go.
ifeq ($(filter-out local,$(GOTOOLCHAIN)),)
export GOTOOLCHAIN := auto
endif

BINARY := pocketbase

.PHONY: build serve test

## build: compile the distribution into ./pocketbase
build:
	go build -o $(BINARY) .

## serve: build, then run the server (SQLite in ./pb_data)
serve: build
	./$(BINARY) serve

## test: vet, then run every test with the race detector
test:
	go vet ./...
	go test -race ./...
