package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/mailer/smtptest"
)

// BenchmarkMeetingWith50Participants schedules meetings of 50 email
// participants through the API and waits until every invitation (text,
// HTML and the ICS calendar, rendered and sent over SMTP to a loopback
// server) arrived: meetings/s and mails/s end to end, on SQLite.
//
//	go test ./internal/node -run '^$' -bench MeetingWith50 -benchtime 20x
func BenchmarkMeetingWith50Participants(b *testing.B) {
	smtp := smtptest.Start(b)
	_, base := startNodeWith(b, b.TempDir(), func(c *config.Config) {
		c.Log.Level = "error"
		c.Mailer = config.Mailer{Host: smtp.Host, Port: smtp.Port, StartTLS: "off", From: "meetings@example.com", Timeout: 10 * time.Second}
		c.Meetings.LinkHost = "https://meet.example.com"
		c.Meetings.MaxPerUser = 1 << 20
		c.Meetings.MaxInvitationsPerHour = 0
	})
	ctx := context.Background()
	admin, err := client.Login(ctx, base, "admin@wac", "admin-secret-1")
	if err != nil {
		b.Fatal(err)
	}
	participants := make([]map[string]string, 50)
	for i := range participants {
		participants[i] = map[string]string{"email": fmt.Sprintf("guest%02d@example.org", i)}
	}
	start := time.Now().Add(24 * time.Hour).UnixMilli()
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		if err := admin.API(ctx, "POST", "/sapi/meetings", map[string]any{"name": fmt.Sprintf("Bench %d", i), "validSince": start,
			"validUntil": start + 3600000, "participants": participants}, nil); err != nil {
			b.Fatal(err)
		}
	}
	smtp.Wait(b, 50*b.N)
	elapsed := time.Since(t0)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "meetings/s")
	b.ReportMetric(float64(50*b.N)/elapsed.Seconds(), "mails/s")
}
