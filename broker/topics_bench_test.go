package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// BenchmarkCreateTopic1000 creates a 1,000-partition topic on a real data
// directory: "registry" is the work CreateTopics does after validation,
// "kadm" the whole request from a franz-go admin client over loopback.
//
//	go test ./broker/ -run X -bench CreateTopic1000 -benchtime 5x
func BenchmarkCreateTopic1000(b *testing.B) {
	b.Run("registry", func(b *testing.B) {
		store, reg := openRegistry(b, b.TempDir())
		b.Cleanup(func() { store.Close() })
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := reg.createTopic(fmt.Sprintf("big%d", i), 1000, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
	})
	b.Run("kadm", func(b *testing.B) {
		ts := startServer(b, "")
		adm := kadm.NewClient(newKgo(b, ts.addr))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r, err := adm.CreateTopic(context.Background(), 1000, 1, nil, fmt.Sprintf("big%d", i))
			if err == nil {
				err = r.Err
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
	})
	// small-beside: a 1-partition create from another client, sent once a
	// 1,000-partition create has made its first partition; ns/op is the
	// small create's answer time.
	b.Run("small-beside", func(b *testing.B) {
		ts := startServer(b, "")
		bigAdm, adm := kadm.NewClient(newKgo(b, ts.addr)), kadm.NewClient(newKgo(b, ts.addr))
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			big := fmt.Sprintf("big%d", i)
			bigDone := make(chan error, 1)
			go func() {
				r, err := bigAdm.CreateTopic(ctx, 1000, 1, nil, big)
				if err == nil {
					err = r.Err
				}
				bigDone <- err
			}()
			for ts.Store().Get(big, 0) == nil {
				time.Sleep(time.Millisecond)
			}
			b.StartTimer()
			r, err := adm.CreateTopic(ctx, 1, 1, nil, fmt.Sprintf("small%d", i))
			b.StopTimer()
			if err == nil {
				err = r.Err
			}
			if err == nil {
				err = <-bigDone
			}
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}
