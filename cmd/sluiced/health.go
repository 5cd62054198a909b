package main

import (
	"errors"
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
	var errs []error
	if off := s.Offline(); len(off) > 0 {
		names := make([]string, 0, min(len(off), 10))
		for _, o := range off[:min(len(off), 10)] {
			names = append(names, fmt.Sprintf("%s-%d", o.Topic, o.Partition))
		}
		errs = append(errs, fmt.Errorf("%d partition(s) offline (log directory damaged; see `sluice repair`): %s",
			len(off), strings.Join(names, ", ")))
	}
	if failed := s.OfflineLogs(); len(failed) > 0 {
		names := make([]string, 0, min(len(failed), 10))
		for _, l := range failed[:min(len(failed), 10)] {
			names = append(names, fmt.Sprintf("%s-%d", l.Topic(), l.Partition()))
		}
		errs = append(errs, fmt.Errorf("%d partition(s) offline after a write or fsync error (restart to recover): %s",
			len(failed), strings.Join(names, ", ")))
	}
	return errors.Join(errs...)
}
