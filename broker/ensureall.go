package broker

import (
	"sync"

	"github.com/sluice/sluice/metadata"
)

// ensureWorkers bounds the topics one reconcile pass brings to the image
// at once.
const ensureWorkers = 8

// ensureAll runs ensure for each topic, up to ensureWorkers at once. A
// topic whose logs are created ends with a syncfs of the data directory's
// file system, and a broker catching up from a snapshot creates every
// topic it hosts in one pass (100 topics of 100 partitions: 2.7 s one by
// one here, docs/BENCHMARKS.md "Cluster metadata"); concurrent syncs share
// the journal's commits. ensure touches only its own topic's logs, under
// the store's per-topic lock, and the shared registry under its locks.
func (r *reconciler) ensureAll(im *metadata.Image, tis []*metadata.TopicImage) {
	one := func(ti *metadata.TopicImage) {
		if err := r.ensure(im, ti); err != nil {
			r.b.log.Error("cannot reconcile a topic's local logs", "topic", ti.Name, "err", err)
		}
	}
	if len(tis) < 2 {
		for _, ti := range tis {
			one(ti)
		}
		return
	}
	work := make(chan *metadata.TopicImage)
	var wg sync.WaitGroup
	for range min(ensureWorkers, len(tis)) {
		wg.Go(func() {
			for ti := range work {
				one(ti)
			}
		})
	}
	for _, ti := range tis {
		work <- ti
	}
	close(work)
	wg.Wait()
}
