package sqlite

import (
	"slices"
	"sync"
)

// claimQueue writes the claims that wait for the writer together, in one transaction (group commit).
//
// Claims from many conversations run CreateCase on goroutines of their own, and the store has one
// writer connection: when claims come in a burst they queue behind each other there, and each
// commit costs as much as all the claim's statements (every page a claim touches is written to the
// WAL again). There is no timer and no goroutine of its own: the first claim to find the writer idle
// leads and writes every claim waiting at that moment; claims arriving meanwhile wait, and the first
// of them leads the next batch. A claim alone is written at once, exactly as before.
type claimQueue struct {
	mu      sync.Mutex
	waiting []*claimOp
	busy    bool // a leader is writing a batch (or about to)
}

// file has op written, by itself or with the claims waiting beside it; write sets each op's result.
// A caller whose context ends while its claim still waits leaves (op.err); once the claim is in a
// batch being written it waits for the batch.
func (q *claimQueue) file(op *claimOp, write func([]*claimOp)) {
	op.turn = make(chan bool, 1)
	q.mu.Lock()
	q.waiting = append(q.waiting, op)
	lead := !q.busy
	q.busy = true
	q.mu.Unlock()
	if !lead && !q.wait(op) {
		return
	}
	q.mu.Lock()
	batch := q.waiting
	q.waiting = nil
	q.mu.Unlock()
	write(batch)
	for _, o := range batch {
		if o != op {
			o.turn <- false
		}
	}
	q.mu.Lock()
	if len(q.waiting) == 0 {
		q.busy = false
		q.mu.Unlock()
		return
	}
	next := q.waiting[0]
	next.promoted = true
	q.mu.Unlock()
	next.turn <- true
}

// wait waits for op's turn: true when op is to lead the next batch, false when it was written (or
// left because its context ended: op.err).
func (q *claimQueue) wait(op *claimOp) bool {
	select {
	case lead := <-op.turn:
		return lead
	case <-op.ctx.Done():
	}
	q.mu.Lock()
	if i := slices.Index(q.waiting, op); i >= 0 && !op.promoted {
		q.waiting = slices.Delete(q.waiting, i, i+1)
		q.mu.Unlock()
		op.err = wrapCreate(op.ctx.Err())
		return false
	}
	q.mu.Unlock()
	return <-op.turn // taken into a batch, or chosen to lead one: it is up to op now
}
