// Package e2e holds Sluice's end-to-end tests: they build the real
// binaries (cmd/sluiced, cmd/sluice) once, start each daemon as a
// subprocess on its own data directory and a port chosen by the kernel
// (--listen 127.0.0.1:0), and drive it over real sockets with real clients
// (franz-go, sarama, kafka-go, kcat; kafka-python, confluent-kafka-python
// and kafkajs through the scripts in py/ and node/; Apache Kafka's Java
// client and command-line tools through java/, see java_test.go) and raw
// Kafka frames.
//
// Storage checks read the data directory with an independent RecordBatch v2
// decoder written in the tests, not with Sluice's own segment or mmapindex
// packages, so a shared misunderstanding cannot hide a format bug.
//
// Environment:
//
//	SLUICE_REQUIRE_KCAT=1   fail (instead of skip) when kcat, strace or a Python/Node client is missing
//	SLUICE_REQUIRE_JAVA=1   fail (instead of skip) when java or the kit scripts/test-deps.sh builds in java/ is missing (CI=true does too)
//	SLUICE_E2E_RACE=1       build the binaries with -race as well
//
// The package has no exported API; this file only carries the package doc.
package e2e
