#!/usr/bin/env bash
# Installs the tools the test suite drives besides Go clients: from
# Debian's packages, kcat (librdkafka) for the interop tests, iproute2 (ip)
# for the network-namespace cluster tests, strace for
# e2e's sendfile share check and the Python clients kafka-python and
# confluent-kafka-python for e2e's consumer-group tests, a JDK and Maven
# for e2e's Java tests, chromium for the console's browser test; from npm, kafkajs into e2e/node (pinned by its
# package-lock.json) when node and npm exist; from Maven Central, Apache
# Kafka's jars (pinned in e2e/java/pom.xml) into e2e/java/lib, with the Java
# test programs compiled to e2e/java/target/classes.
# As root it installs the Debian packages; otherwise it names them and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# python_has MODULE: a python3 the e2e tests try (Debian's first) imports it.
python_has() {
	local py
	for py in /usr/bin/python3 python3; do
		"$py" -c "import $1" >/dev/null 2>&1 && return 0
	done
	return 1
}

need=()
command -v kcat >/dev/null 2>&1 || need+=(kcat)
command -v strace >/dev/null 2>&1 || need+=(strace)
# ip (iproute2) for the network-namespace cluster tests (internal/testhosts:
# cut a broker off, heal it; they run as root and skip without ip).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
python_has kafka || need+=(python3-kafka)
python_has confluent_kafka || need+=(python3-confluent-kafka)
# A JDK (javac compiles the test programs; java runs them and Kafka's tools).
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
# Headless Chromium for the console's browser test (console/browser_test.go, chromedp).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
status=0
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test-deps: installing ${need[*]} with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		# Without default-jdk-headless (derivatives), ask for OpenJDK 17.
		if ! apt-cache show default-jdk-headless >/dev/null 2>&1; then
			need=("${need[@]/#default-jdk-headless/openjdk-17-jdk-headless}")
		fi
		apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "test-deps: the tests need: ${need[*]}. Install them with: sudo apt-get install ${need[*]}" >&2
		case " ${need[*]} " in *" default-jdk-headless "*)
			echo "test-deps: (any JDK 17 or later does instead of default-jdk-headless, e.g. openjdk-17-jdk-headless)" >&2 ;;
		esac
		status=1
	fi
fi

# kafkajs: npm ci when it is missing or the lock file changed since.
if [ ! -f e2e/node/node_modules/kafkajs/package.json ] ||
	[ e2e/node/package-lock.json -nt e2e/node/node_modules/.package-lock.json ]; then
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		echo "test-deps: installing kafkajs into e2e/node with npm ci"
		(cd e2e/node && npm ci --no-audit --no-fund --loglevel=error)
	else
		echo "test-deps: node or npm not found: not installing kafkajs, so e2e's kafkajs test skips (and fails under make test)." >&2
		echo "test-deps: install Node.js with npm (Debian: apt-get install nodejs npm), then rerun scripts/test-deps.sh" >&2
	fi
fi
# Apache Kafka's jars and the Java test programs: one mvn step, skipped
# while the stamp is newer than the pom and every source. The classpath the
# tests use is e2e/java/lib/*.jar plus e2e/java/target/classes.
java_stale() {
	local stamp=e2e/java/target/.test-deps-stamp
	[ -f "$stamp" ] || return 0
	[ -n "$(find e2e/java/pom.xml e2e/java/src -newer "$stamp" -print -quit)" ] && return 0
	[ -d e2e/java/lib ] || return 0
	return 1
}
if java_stale; then
	if command -v mvn >/dev/null 2>&1 && command -v javac >/dev/null 2>&1; then
		echo "test-deps: building the Java reference kit in e2e/java (Apache Kafka's jars from Maven Central)"
		rm -rf e2e/java/target e2e/java/lib
		(cd e2e/java && mvn -q -B compile dependency:copy-dependencies)
		touch e2e/java/target/.test-deps-stamp
	else
		echo "test-deps: javac or mvn not found: not building e2e/java, so e2e's Java tests skip (and fail under make test)." >&2
		echo "test-deps: install a JDK and Maven (Debian: apt-get install default-jdk-headless maven), then rerun scripts/test-deps.sh" >&2
		status=1
	fi
fi
exit $status
