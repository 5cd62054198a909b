//go:build deps

// Package deps pins the modules that Sluice and its tests build on, so that
// go.mod stays stable while packages are written in parallel. It is never
// compiled into a binary (build tag "deps").
package deps

import (
	_ "github.com/IBM/sarama"
	_ "github.com/edsrzf/mmap-go"
	_ "github.com/panjf2000/gnet/v2"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/twmb/franz-go/pkg/kmsg"
	_ "github.com/valyala/bytebufferpool"
	_ "golang.org/x/sys/unix"
)
