package storetest_test

import (
	"path/filepath"
	"testing"

	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/channels/storetest"
)

// The embedded implementations run the contract here, so channels/sqlitestore needs no change.

func TestSQLiteStore(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) channels.Store {
		s, err := sqlitestore.New(filepath.Join(t.TempDir(), "channels.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMemoryBus(t *testing.T) {
	storetest.TestBus(t, func(t *testing.T) storetest.BusEnv {
		s, err := sqlitestore.New(filepath.Join(t.TempDir(), "channels.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		bus := channels.NewMemoryBus(16)
		return storetest.BusEnv{Store: s, Buffer: 16, NewBus: func(*testing.T) channels.Bus { return bus }}
	})
}

func TestSQLiteInboundTurnStore(t *testing.T) {
	storetest.TestInboundTurnStore(t, func(t *testing.T) channels.InboundTurnStore {
		s, err := sqlitestore.New(filepath.Join(t.TempDir(), "channels.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
