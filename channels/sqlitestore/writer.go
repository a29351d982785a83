package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"claimline/casesvc"
	"claimline/internal/sqlitewal"
)

// Group commit. Every write of the store is an op: a function run by the single writer goroutine on
// the single writer connection. The writer takes the first queued op and every other op already
// waiting (up to maxBatch) and runs them in one BEGIN IMMEDIATE … COMMIT, each op in its own
// SAVEPOINT when there are several, so an op that fails is rolled back alone and the others still
// commit. Callers are answered only after the COMMIT returned (or failed, which fails them all): an
// op's effects are never reported before they are durable to the same degree as a lone transaction.
// The writer never waits for more ops to arrive: a batch is whatever queued up while the previous
// one ran, so a lone caller pays no extra latency.
//
// Durability is the connection's: WAL with synchronous=NORMAL. A COMMIT has written the transaction
// to the WAL file (write(2) into the OS page cache) before it returns, so a process crash (SIGKILL,
// panic, OOM kill) loses nothing that was acknowledged; a power loss or kernel crash may lose the
// last commits (never corrupting the file). See docs/performance.md, "after: sqlitestore".

// maxBatch bounds the ops of one transaction (and so the wait of the first caller of a batch); 1
// turns group commit off (tests and benchmarks compare both).
var maxBatch = 64

const (
	// queueLen is the buffer of the op queue; submitters block beyond it (back-pressure).
	queueLen = 256
)

// wconn is the writer connection with its prepared statements; only the writer goroutine (and New,
// before it starts) uses it.
type wconn struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt

	// rows are the conversation changes of the batch's ops so far, applied to the cache after the
	// COMMIT. An op that writes the conversations table must touch what it changed.
	rows        []convWrite
	dataVersion int64 // PRAGMA data_version at the last transaction: others' commits change it
}

// touch records a change to a conversation row made by the running op.
func (w *wconn) touch(c convWrite) { w.rows = append(w.rows, c) }

// wctx is the context of the writer's statements: an op's caller context decides only whether the op
// starts (a statement interrupted halfway would fail the whole batch for one impatient caller).
var wctx = context.Background()

func (w *wconn) prepare(ctx context.Context, queries map[string]string) error {
	w.stmts = make(map[string]*sql.Stmt, len(queries))
	for name, q := range queries {
		st, err := w.conn.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlitestore: prepare %s: %w", name, err)
		}
		w.stmts[name] = st
	}
	return nil
}

// stmt returns a prepared writer statement; an unknown name is a programming error.
func (w *wconn) stmt(name string) *sql.Stmt {
	st, ok := w.stmts[name]
	if !ok {
		panic("sqlitestore: no writer statement " + name)
	}
	return st
}

func (w *wconn) exec(name string, args ...any) (sql.Result, error) {
	return w.stmt(name).ExecContext(wctx, args...)
}

func (w *wconn) queryRow(name string, args ...any) *sql.Row {
	return w.stmt(name).QueryRowContext(wctx, args...)
}

func (w *wconn) query(name string, args ...any) (*sql.Rows, error) {
	return w.stmt(name).QueryContext(wctx, args...)
}

// op states: queued until the writer takes it or its caller gives up waiting.
const (
	opQueued int32 = iota
	opTaken
	opCancelled
)

type op struct {
	ctx   context.Context
	fn    func(w *wconn) error
	state atomic.Int32
	err   error
	done  chan struct{}
}

type writer struct {
	w      *wconn
	mu     sync.RWMutex // held for reading while submitting, for writing by close
	closed bool
	ops    chan *op
	exited chan struct{}
	max    int // maxBatch when the store opened
	cache  *convCache
	ckpt   *sqlitewal.Checkpointer // told of every commit

	// batches and batched count transactions and the ops they carried (tests, metrics).
	batches atomic.Int64
	batched atomic.Int64
}

func newWriter(w *wconn, cache *convCache, ckpt *sqlitewal.Checkpointer) *writer {
	wr := &writer{w: w, cache: cache, ckpt: ckpt, ops: make(chan *op, queueLen), exited: make(chan struct{}), max: max(maxBatch, 1)}
	go wr.loop()
	return wr
}

// do runs fn in a write transaction (shared with other ops; see above) and returns its error, or the
// COMMIT's. When ctx ends before the writer took the op, it is dropped and ctx's error returned; once
// taken, do waits for the outcome, so a caller never returns while its write may still commit.
func (wr *writer) do(ctx context.Context, fn func(w *wconn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, fn: fn, done: make(chan struct{})}
	wr.mu.RLock()
	if wr.closed {
		wr.mu.RUnlock()
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "The conversation store is closed.")
	}
	select {
	case wr.ops <- o:
	case <-ctx.Done():
		wr.mu.RUnlock()
		return ctx.Err()
	}
	wr.mu.RUnlock()
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opCancelled) {
			return ctx.Err()
		}
		<-o.done
		return o.err
	}
}

// close stops accepting ops, lets the writer finish the queued ones and waits for it.
func (wr *writer) close() {
	wr.mu.Lock()
	if !wr.closed {
		wr.closed = true
		close(wr.ops)
	}
	wr.mu.Unlock()
	<-wr.exited
}

func (wr *writer) loop() {
	defer close(wr.exited)
	batch := make([]*op, 0, wr.max)
	for first := range wr.ops {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < wr.max {
			select {
			case o, ok := <-wr.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		wr.run(batch)
		clear(batch)
	}
}

// run executes one batch in one transaction and answers its callers.
func (wr *writer) run(batch []*op) {
	live := batch[:0]
	for _, o := range batch {
		if o.state.CompareAndSwap(opQueued, opTaken) {
			if err := o.ctx.Err(); err != nil {
				o.finish(err)
				continue
			}
			live = append(live, o)
		}
		// A cancelled op's caller has returned already; nothing to answer.
	}
	if len(live) == 0 {
		return
	}
	wr.batches.Add(1)
	wr.batched.Add(int64(len(live)))
	w := wr.w
	if _, err := w.exec("begin"); err != nil {
		finishAll(live, err)
		return
	}
	// Another connection (process) committed since our last transaction: the cached rows may be old.
	var dv int64
	if err := w.queryRow("dataVersion").Scan(&dv); err != nil || dv != w.dataVersion {
		wr.cache.drop()
		w.dataVersion = dv
	}
	w.rows = w.rows[:0]
	ok := make([]bool, len(live))
	if len(live) == 1 {
		// One op: the transaction is its unit, no savepoint needed.
		if err := runOp(live[0], w); err != nil {
			w.exec("rollback")
			live[0].finish(err)
			return
		}
		ok[0] = true
	} else {
		for i, o := range live {
			if _, err := w.exec("savepoint"); err != nil {
				wr.abort(live, ok, err)
				return
			}
			mark := len(w.rows)
			if err := runOp(o, w); err != nil {
				w.rows = w.rows[:mark]
				// Undo this op only. When SQLite already rolled the whole transaction back (disk
				// full, I/O error), the savepoint is gone: fail the batch.
				if _, rerr := w.exec("rollbackTo"); rerr != nil {
					wr.abort(live, ok, errors.Join(err, rerr))
					return
				}
				if _, rerr := w.exec("release"); rerr != nil {
					wr.abort(live, ok, errors.Join(err, rerr))
					return
				}
				o.err = err
				continue
			}
			if _, err := w.exec("release"); err != nil {
				wr.abort(live, ok, err)
				return
			}
			ok[i] = true
		}
	}
	// Readers that read the database while this commit and its puts happen must not fill the cache
	// with what they read (bump before, put after).
	wr.cache.commitMu.Lock()
	wr.cache.bump()
	_, err := w.exec("commit")
	if err == nil {
		wr.cache.put(w.rows)
		wr.ckpt.Committed()
	}
	wr.cache.commitMu.Unlock()
	clear(w.rows)
	w.rows = w.rows[:0]
	if err != nil {
		w.exec("rollback")
		wr.cache.drop()
		for i, o := range live {
			if ok[i] {
				o.finish(err)
			} else {
				o.finish(o.err)
			}
		}
		return
	}
	for i, o := range live {
		if ok[i] {
			o.finish(nil)
		} else {
			o.finish(o.err)
		}
	}
}

// abort rolls the whole batch back: the ops that had succeeded fail with err, the failed ones keep
// their own error.
func (wr *writer) abort(live []*op, ok []bool, err error) {
	wr.w.exec("rollback")
	for i, o := range live {
		if ok[i] || o.err == nil {
			o.finish(err)
		} else {
			o.finish(o.err)
		}
	}
}

// runOp runs an op's function, turning a panic into an error so the writer survives it.
func runOp(o *op, w *wconn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlitestore: write panicked: %v", p)
		}
	}()
	return o.fn(w)
}

func (o *op) finish(err error) {
	o.err = err
	close(o.done)
}

func finishAll(ops []*op, err error) {
	for _, o := range ops {
		o.finish(err)
	}
}
