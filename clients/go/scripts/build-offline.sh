#!/bin/sh
# Vets, unit-tests and builds the Go client and its smoke program with no module proxy, from Debian's
# Go packages (golang-go; golang-google-grpc-dev, golang-google-protobuf-dev and
# golang-github-golang-protobuf-1-5-dev install their sources under /usr/share/gocode). GOPATH mode:
# the module is copied to the import path it declares inside a throw-away GOPATH, next to Debian's tree.
# With network access, plain `go build ./...` works too.
#
#   clients/go/scripts/build-offline.sh <output-dir>   → <output-dir>/smoke
set -eu
out=${1:?usage: build-offline.sh <output-dir>}
module_dir=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
gopath="$out/gopath"
import_dir="$gopath/src/github.com/secretgate/secretgate/clients/go"
rm -rf "$gopath"
mkdir -p "$import_dir"
cp -R "$module_dir/." "$import_dir/"
cd "$import_dir"
export GO111MODULE=off GOFLAGS= GOPATH="$gopath:${DEBIAN_GOCODE:-/usr/share/gocode}"
go vet ./...
go test ./...
go build -o "$out/smoke" ./cmd/smoke
