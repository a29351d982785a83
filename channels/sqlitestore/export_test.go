package sqlitestore

import "context"

// SetMaxBatch sets the group commit bound (1 = one op per transaction) and returns a restore func.
func SetMaxBatch(n int) func() {
	old := maxBatch
	maxBatch = n
	return func() { maxBatch = old }
}

// Batches reports the write transactions committed so far and the ops they carried.
func (s *Store) Batches() (batches, ops int64) {
	return s.wr.batches.Load(), s.wr.batched.Load()
}

// Hold blocks the writer until release is closed (the op runs in a transaction of its own batch), so
// a test can queue ops that then run together in the next batch.
func (s *Store) Hold(release <-chan struct{}) (started <-chan struct{}) {
	st := make(chan struct{})
	go s.write(context.Background(), "hold", func(*wconn) error {
		close(st)
		<-release
		return nil
	})
	return st
}

// WriteRaw runs an op of raw statements in the writer (fail=true makes the op fail after running
// them), for group commit tests.
func (s *Store) WriteRaw(ctx context.Context, fail error, stmts ...string) error {
	return s.write(ctx, "raw", func(w *wconn) error {
		for _, q := range stmts {
			if _, err := w.conn.ExecContext(wctx, q); err != nil {
				return err
			}
		}
		return fail
	})
}

// QueueLen is the number of ops waiting for the writer.
func (s *Store) QueueLen() int { return len(s.wr.ops) }

// WriterPragma reads PRAGMA name on the writer's connection.
func (s *Store) WriterPragma(ctx context.Context, name string) (v string, err error) {
	err = s.write(ctx, "pragma", func(w *wconn) error {
		return w.conn.QueryRowContext(wctx, "PRAGMA "+name).Scan(&v)
	})
	return v, err
}

// Checkpoints reports the checkpointer's passes and failed passes so far.
func (s *Store) Checkpoints() (passes, failed int64) {
	return s.ckpt.Passes()
}
