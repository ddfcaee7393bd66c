package files

import (
	"encoding"

	"github.com/bintap/bintap/internal/sink"
)

// disk writes and fsyncs the bytes of the open files on a goroutine of its
// own, in the order they were handed over, so that encoding the next
// records overlaps writing, checksumming and flushing these.
type disk struct {
	reqs chan diskReq
	free chan []byte // buffers written out, for reuse
}

// diskReq appends a chunk to a file, or, without a chunk, makes the file
// durable up to what was handed before and answers on done.
type diskReq struct {
	f     *openFile
	chunk []byte
	done  chan error
}

func newDisk() *disk {
	d := &disk{reqs: make(chan diskReq, 16), free: make(chan []byte, 20)}
	go d.run()
	return d
}

func (d *disk) run() {
	failed := map[*openFile]error{} // a file whose write failed fails its next sync
	for r := range d.reqs {
		f := r.f
		if r.chunk != nil {
			if failed[f] == nil {
				if _, err := f.f.Write(r.chunk); err != nil {
					failed[f] = errorf("%w", sink.FileError("write", f.f.Name(), err))
				} else {
					if f.hash != nil {
						f.hash.Write(r.chunk)
					}
				}
			}
			select {
			case d.free <- r.chunk[:0]:
			default:
			}
			continue
		}
		err := failed[f]
		delete(failed, f)
		if err == nil {
			if err = f.f.Sync(); err != nil {
				err = errorf("%w", sink.FileError("fsync", f.f.Name(), err))
			}
		}
		if err == nil && f.hash != nil {
			var h []byte
			if h, err = f.hash.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
				f.st.Hash = h
			}
		}
		r.done <- err
	}
}

// buffer returns an empty buffer for a file's next records.
func (d *disk) buffer() []byte {
	select {
	case b := <-d.free:
		return b
	default:
		return make([]byte, 0, fileBuffer+fileBuffer/4)
	}
}

// close ends the goroutine once it has done what it was handed.
func (d *disk) close() { close(d.reqs) }
