package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	"claimline/internal/sqlitewal"
)

// maxCachedStmts bounds the prepared statements kept per pool. Every statement of the package has a
// fixed text except the filtered lists (Cases, Complaints, Audit), whose texts come from a few filter
// combinations; past the bound a text is run unprepared, as before.
const maxCachedStmts = 512

// stmtCache prepares each distinct SQL text once on its pool (database/sql then keeps it prepared on
// every connection it ran on), so SQLite does not parse the SQL again on every call.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex // serialises prepares; reads go through m
	m     sync.Map   // query text -> *sql.Stmt
	n     atomic.Int32
	close atomic.Bool
}

// lookup returns the prepared statement of q, or nil when it is not prepared yet.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	return nil
}

// get returns the prepared statement of q, preparing it first, or nil when it cannot be prepared (the
// caller then runs the text itself, so an error is reported exactly as before). It needs a free
// connection of the pool: never call it inside a transaction of the one-connection writer.
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if c.n.Load() >= maxCachedStmts || c.close.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	// Prepared without the caller's deadline: the statement outlives the call.
	st, err := c.db.PrepareContext(context.WithoutCancel(ctx), q)
	if err != nil {
		return nil
	}
	c.m.Store(q, st)
	c.n.Add(1)
	return st
}

func (c *stmtCache) closeAll() {
	c.close.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		c.m.Delete(k)
		return true
	})
}

// pool runs statements outside a transaction on one *sql.DB through its statement cache. The
// writer's pool tells the checkpointer of its writes (each one commits on its own); ckpt is nil for
// the readers.
type pool struct {
	c    *stmtCache
	ckpt *sqlitewal.Checkpointer
}

func (p pool) ExecContext(ctx context.Context, q string, args ...any) (res sql.Result, err error) {
	if st := p.c.get(ctx, q); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = p.c.db.ExecContext(ctx, q, args...)
	}
	if err == nil {
		p.ckpt.Committed()
	}
	return res, err
}

func (p pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := p.c.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.c.db.QueryContext(ctx, q, args...)
}

func (p pool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := p.c.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.c.db.QueryRowContext(ctx, q, args...)
}

// ptx is a write transaction whose statements come from the writer's statement cache
// (sql.Tx.StmtContext reuses the statement already prepared on the writer connection). The
// transaction holds the writer's only connection, so a text not prepared yet runs as text and is
// prepared once the transaction has ended (Commit or Rollback), for the next call.
type ptx struct {
	*sql.Tx
	c      *stmtCache
	ckpt   *sqlitewal.Checkpointer // told of the commit
	missed []string
}

func (t *ptx) stmt(ctx context.Context, q string) *sql.Stmt {
	st := t.c.lookup(q)
	if st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	t.missed = append(t.missed, q)
	return nil
}

func (t *ptx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

func (t *ptx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

func (t *ptx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

// Commit commits, then prepares the texts the transaction ran unprepared.
func (t *ptx) Commit() error {
	err := t.Tx.Commit()
	if err == nil {
		t.ckpt.Committed()
	}
	t.prepareMissed()
	return err
}

// Rollback rolls back (sql.ErrTxDone after Commit, as sql.Tx), then prepares what was missed.
func (t *ptx) Rollback() error {
	err := t.Tx.Rollback()
	t.prepareMissed()
	return err
}

func (t *ptx) prepareMissed() {
	missed := t.missed
	t.missed = nil
	for _, q := range missed {
		t.c.get(context.Background(), q)
	}
}

// begin starts a write transaction (IMMEDIATE, on the one writer connection).
func (s *Service) begin(ctx context.Context) (*ptx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &ptx{Tx: tx, c: s.wc, ckpt: s.ckpt}, nil
}
