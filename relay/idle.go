package relay

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// idleWatch cuts an attempt whose body wrote nothing for its idle
// timeout, whatever the body is: a stream, a plain answer, an error. It
// looks every half timeout and cuts after two looks in a row saw no byte,
// so a body is cut between one and one and a half timeouts after its last
// byte: one atomic add per read, cheaper than resetting a timer for each.
type idleWatch struct {
	cancel context.CancelCauseFunc
	period time.Duration
	// first is the first look's timer; later looks arm their own, so no
	// timer is shared between goroutines.
	first   *time.Timer
	reads   atomic.Uint64
	stopped atomic.Bool
	// seen and quiet are only touched by check, which never runs twice
	// at once (it arms the next look as its last step).
	seen  uint64
	quiet int
}

// start arms the watch; a timeout of 0 or less arms nothing.
func (w *idleWatch) start(timeout time.Duration, cancel context.CancelCauseFunc) {
	if timeout <= 0 {
		return
	}
	w.cancel, w.period = cancel, timeout/2
	w.first = time.AfterFunc(w.period, w.check)
}

// touch records that bytes arrived.
func (w *idleWatch) touch() { w.reads.Add(1) }

func (w *idleWatch) check() {
	if w.stopped.Load() {
		return
	}
	if n := w.reads.Load(); n != w.seen {
		w.seen, w.quiet = n, 0
	} else if w.quiet++; w.quiet >= 2 {
		w.cancel(providers.ErrIdleTimeout)
		return
	}
	time.AfterFunc(w.period, w.check)
}

// stop ends the watch; a look already armed finds it stopped.
func (w *idleWatch) stop() {
	w.stopped.Store(true)
	if w.first != nil {
		w.first.Stop()
	}
}
