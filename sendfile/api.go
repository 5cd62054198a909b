package sendfile

// This file is the contract other packages build against.

import "os"

// Ref is a reference on the file behind a Region (a segment's reference
// count). The sender calls Release exactly once, after the region's bytes
// have left or the send has failed or been abandoned.
type Ref interface{ Release() }

// Region is a byte range of an open file, sent without copying into user
// space. File is shared by many senders: only explicit offsets are used,
// never the file position, and File is never closed by the sender.
type Region struct {
	File *os.File
	Off  int64
	Len  int64
	Ref  Ref // may be nil
}

// Release releases r.Ref if it is set.
func (r Region) Release() {
	if r.Ref != nil {
		r.Ref.Release()
	}
}
