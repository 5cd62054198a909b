#!/usr/bin/env bash
# Installs the tools the test suite drives besides Go clients: kcat
# (librdkafka) from Debian's packages. As root it installs; otherwise it
# names the package to install and fails.
set -euo pipefail
need=()
command -v kcat >/dev/null 2>&1 || need+=(kcat)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: installing ${need[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq "${need[@]}" >/dev/null
	exit 0
fi
echo "test-deps: the tests need: ${need[*]}. Install it with: sudo apt-get install ${need[*]}" >&2
exit 1
