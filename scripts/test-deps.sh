#!/usr/bin/env bash
# Installs the tools the test suite drives besides Go clients, from
# Debian's packages: kcat (librdkafka) for the interop tests and strace for
# e2e's sendfile share check. As root it installs; otherwise it names the
# packages to install and fails.
set -euo pipefail
need=()
command -v kcat >/dev/null 2>&1 || need+=(kcat)
command -v strace >/dev/null 2>&1 || need+=(strace)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: installing ${need[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq "${need[@]}" >/dev/null
	exit 0
fi
echo "test-deps: the tests need: ${need[*]}. Install them with: sudo apt-get install ${need[*]}" >&2
exit 1
