package partition

// Abandon stops the store as a crash (kill -9) would, for crash tests in
// other packages: the background goroutines stop and the data directory's
// lock is released, but nothing is flushed, no checkpoint or clean-shutdown
// marker is written and the logs stay open (their descriptors leak until
// the process exits). The files are then what a crash leaves in the page
// cache; open the directory again to test recovery. The store is unusable
// afterwards. Flushes of rolled segments already under way finish first, so
// that no goroutine of this store writes into the directory once Abandon
// returns (a real crash would cut them short; recovery copes with either).
func (s *Store) Abandon() {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return
	}
	s.mu.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.done.Wait()
	s.waitLogsBackground()
	s.lock.Close()
}

// waitLogsBackground waits for every log's background work (rolled-segment
// flushes).
func (s *store) waitLogsBackground() {
	for _, l := range s.logs() {
		l.bg.Wait()
	}
}
