package request

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/dustin/go-humanize"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// The buffer a body is read into starts at most this large and grows as
// bytes arrive, so a client that declares a large Content-Length and then
// trickles holds no more memory than it has sent.
const firstChunk = 64 << 10

// Read reads r's body whole, within limit bytes. A declared
// Content-Length over the limit is refused before anything is read; a
// body that turns out longer is refused once limit+1 bytes have come.
func Read(r *http.Request, limit int64) ([]byte, *llmerrors.Error) {
	if r.ContentLength > limit {
		return nil, TooLarge(limit)
	}
	size := int64(firstChunk)
	if r.ContentLength >= 0 {
		size = min(r.ContentLength+1, firstChunk)
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			// Grow as append would, but never past limit+1 bytes.
			grown := min(int64(cap(buf))*2, limit+1)
			if grown <= int64(cap(buf)) {
				return nil, TooLarge(limit)
			}
			buf = append(make([]byte, 0, grown), buf...)
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, TooLarge(limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				return nil, TooLarge(limit)
			}
			return nil, &llmerrors.Error{Code: llmerrors.InvalidRequest, Message: "The request body could not be read; resend the request.", Cause: err}
		}
	}
}

// TooLarge is the refusal of a body over limit bytes.
func TooLarge(limit int64) *llmerrors.Error {
	return &llmerrors.Error{
		Code:    llmerrors.RequestTooLarge,
		Message: fmt.Sprintf("Request body is larger than the gateway's limit of %s; send a shorter request.", humanize.IBytes(uint64(limit))),
	}
}

// What the gateway reads and throws away of a refused body that is still
// arriving: at most DrainBytes, for at most DrainTime.
const (
	DrainBytes = 64 << 20
	DrainTime  = 5 * time.Second
)

// DrainRefused reads and discards what a client still sends of a body the
// gateway refused, after the refusal was written, so that the client reads
// the refusal rather than a reset: a connection closed while bytes it
// received are unread is reset by the kernel, and the reset can destroy
// the answer before the client has read it. It reads nothing over HTTP/2
// and HTTP/3 (the stream ends without touching the connection) nor from a
// client that waits for 100 Continue before sending (it sends nothing
// more). It flushes the refusal first, so the client can stop sending.
func DrainRefused(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if r.ProtoMajor != 1 || r.Header.Get("Expect") != "" || r.Body == nil || r.Body == http.NoBody {
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(DrainTime))
	_, _ = io.CopyN(io.Discard, r.Body, DrainBytes)
}
