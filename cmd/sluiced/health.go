package main

import (
	"fmt"
	"strings"
)

// storageHealth is nil while every partition is online; otherwise an error
// naming the offline partitions (/healthz answers 503 with it). A partition
// goes offline when its log cannot be opened (corruption below its
// recovery point, an I/O error); `sluice repair` brings it back.
func (d *daemon) storageHealth() error {
	s := d.store.Load()
	if s == nil {
		return nil
	}
	off := s.Offline()
	if len(off) == 0 {
		return nil
	}
	names := make([]string, 0, min(len(off), 10))
	for _, o := range off[:min(len(off), 10)] {
		names = append(names, fmt.Sprintf("%s-%d", o.Topic, o.Partition))
	}
	return fmt.Errorf("%d partition(s) offline (log directory damaged; see `sluice repair`): %s",
		len(off), strings.Join(names, ", "))
}
