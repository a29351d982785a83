package channels

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// 16 senders sending at once, each recording a send before the next (as the delivery workers do),
// open about one connection each and then reuse them.
func TestProviderTransportReusesConnections(t *testing.T) {
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
		max  int64
	}{
		{"provider", ProviderTransport(), 24}, // one each, plus dials that raced
		{"default (for comparison)", http.DefaultTransport.(*http.Transport).Clone(), -1},
	} {
		var opened atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Millisecond) // a provider takes a moment: answers come back together
			io.WriteString(w, `{"sid":"SM1"}`)
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				opened.Add(1)
			}
		}
		srv.Start()
		client := &http.Client{Transport: tc.rt}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 50 {
					resp, err := client.Post(srv.URL, "application/x-www-form-urlencoded", nil)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					time.Sleep(time.Millisecond) // the sender records the send before the next one
				}
			})
		}
		wg.Wait()
		srv.Close()
		t.Logf("%s: %d connections for 800 requests from 16 senders", tc.name, opened.Load())
		if tc.max > 0 && opened.Load() > tc.max {
			t.Errorf("%s: %d connections opened, want at most %d", tc.name, opened.Load(), tc.max)
		}
	}
}
