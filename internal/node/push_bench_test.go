package node_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/push/pushtest"
)

// BenchmarkInvitationPush is the push latency of invitations: from the
// moment the caller sends an invitation to a callee without a session to
// the moment the local APNs or FCM server has the push, at 200
// invitations/s (paced; half the callees have an APNs VoIP token, half an
// FCM token). Each invitation is cancelled once pushed, so its follow-up
// push is part of the load. Run it with -benchtime=2000x (10 s at the
// rate); it reports p50 and p99 in ms.
func BenchmarkInvitationPush(b *testing.B) {
	const rate, callees = 200, 400
	p := startPushNode(b, func(c *config.Config) {
		c.QSS.RequestRate = 10000
		c.Push.UserRate = 6000 // each callee is called every 2 s
		c.Log.Level = "error"
	})
	ctx := context.Background()
	caller := p.user(b, "caller")
	names := make([]string, callees)
	for i := range names {
		names[i] = fmt.Sprintf("callee%d", i)
		cl := p.user(b, names[i])
		if i%2 == 0 {
			register(b, cl, "apns-voip", fmt.Sprintf("%064x", i), "phone")
		} else {
			register(b, cl, "fcm", "fcm-"+names[i], "phone")
		}
	}
	// Four caller sessions take turns: one session's requests are served
	// in order, as an app's are.
	type callerConn struct {
		conn *client.Conn
		room string
	}
	var callers []callerConn
	for range 4 {
		conn, err := caller.Connect(ctx, client.ConnectOptions{Platform: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		f, err := conn.Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		var room struct{ Room string }
		f.DecodePayload(&room)
		if _, err := conn.Request(ctx, "joinRoom", map[string]any{"room": room.Room}, nil); err != nil {
			b.Fatal(err)
		}
		callers = append(callers, callerConn{conn, room.Room})
	}
	// Who was invited when, by token; the receiver matches the pushes.
	var mu sync.Mutex
	sent := map[string]time.Time{}
	type pending struct {
		conn *client.Conn
		req  string
	}
	reqOf := map[string]pending{}
	var lat []time.Duration
	stop := make(chan struct{})
	receive := func(s *pushtest.Server) {
		for {
			select {
			case <-stop:
				return
			case got := <-s.Pushes:
				if got.Type() != "invitation" {
					continue
				}
				mu.Lock()
				t0, ok := sent[got.Token]
				req := reqOf[got.Token]
				delete(sent, got.Token)
				if ok {
					lat = append(lat, got.Received.Sub(t0))
				}
				mu.Unlock()
				if ok && req.conn != nil {
					req.conn.Send(ctx, map[string]any{"cancel": "invitation", "requestID": req.req})
				}
			}
		}
	}
	go receive(p.apns.Server)
	go receive(p.fcm.Server)
	defer close(stop)
	invite := func(i int) {
		n := i % callees
		tok := fmt.Sprintf("%064x", n)
		if n%2 == 1 {
			tok = "fcm-" + names[n]
		}
		c := callers[i%len(callers)]
		mu.Lock()
		sent[tok] = time.Now()
		mu.Unlock()
		id, _, err := c.conn.Start(ctx, "invitation", map[string]any{"room": c.room, "mediatypes": map[string]bool{"audio": true}},
			map[string]any{"to": names[n]})
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		reqOf[tok] = pending{c.conn, id}
		mu.Unlock()
	}
	arrived := func(n int) {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			got := len(lat)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d pushes of %d arrived", got, n)
			}
		}
	}
	// Warm up: the first push of each service opens its HTTP/2
	// connection, signs a provider token (APNs) and fetches an access
	// token (FCM).
	invite(0)
	invite(1)
	arrived(2)
	time.Sleep(100 * time.Millisecond) // their cancels
	mu.Lock()
	lat = lat[:0]
	mu.Unlock()
	// Paced on a schedule: the k-th invitation leaves at start + k/rate,
	// or at once when the loop is behind.
	b.ResetTimer()
	start, i := time.Now(), 0
	for b.Loop() {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		invite(i + 2)
		i++
	}
	b.StopTimer()
	arrived(i)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "invitations/s")
}
