package celery

import (
	"context"
	"errors"
	"testing"

	"github.com/celeriac/celeriac/internal/kombu"
)

// replyBackend is a result backend with a reply queue (as rpc://).
type replyBackend struct {
	DisabledBackend
	declared int
}

func (b *replyBackend) ReplyTo() string { return "client-oid" }

func (b *replyBackend) EnsureChordsAllowed() error { return errNoChords }

var errNoChords = errors.New("no chords here")

func (b *replyBackend) DeclareReplyQueue(context.Context) error {
	b.declared++
	return nil
}

// published records what a client publishes.
type published struct{ pubs []Publishing }

func (p *published) PublishOne(_ context.Context, pub Publishing) error {
	p.pubs = append(p.pubs, pub)
	return nil
}

func (p *published) PublishBatch(_ context.Context, pubs []Publishing) error {
	p.pubs = append(p.pubs, pubs...)
	return nil
}

// TestClientReplyTo: over a backend with a reply queue, every task sent
// names it in reply_to (the task id is the correlation id) and the queue
// is declared before the publish; a reply_to given by the caller wins and
// declares nothing.
func TestClientReplyTo(t *testing.T) {
	be := &replyBackend{}
	pub := &published{}
	c := NewClient(pub, be)
	ctx := context.Background()
	res, err := c.SendTask(ctx, "tasks.add", Args(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTask(ctx, "tasks.add", ReplyTo("elsewhere")); err != nil {
		t.Fatal(err)
	}
	if be.declared != 1 || len(pub.pubs) != 2 {
		t.Fatalf("declared %d times, %d published; want 1, 2", be.declared, len(pub.pubs))
	}
	for i, want := range []string{"client-oid", "elsewhere"} {
		env, err := kombu.ParseEnvelope(pub.pubs[i].Body)
		if err != nil {
			t.Fatal(err)
		}
		if env.Properties.ReplyTo != want {
			t.Errorf("message %d: reply_to %q, want %q", i, env.Properties.ReplyTo, want)
		}
		if i == 0 && env.Properties.CorrelationID != res.ID {
			t.Errorf("correlation_id %q, want the task id %q", env.Properties.CorrelationID, res.ID)
		}
	}
	ctx = WithReplyTo(ctx, "q", "c")
	if r, c := ReplyToFrom(ctx); r != "q" || c != "c" {
		t.Errorf("ReplyToFrom: %q, %q", r, c)
	}
	if r, c := ReplyToFrom(context.Background()); r != "" || c != "" {
		t.Errorf("ReplyToFrom without: %q, %q", r, c)
	}
}

// TestChordRefused: a backend that refuses chords is asked before any
// task of the chord is sent; nothing is published.
func TestChordRefused(t *testing.T) {
	pub := &published{}
	c := NewClient(pub, &replyBackend{})
	sig := Chord([]Signature{NewSignature("tasks.add", 1, 2), NewSignature("tasks.add", 3, 4)}, NewSignature("tasks.xsum"))
	if _, err := c.ApplyCanvas(context.Background(), sig, ApplyInfo{}); !errors.Is(err, errNoChords) {
		t.Errorf("chord over a backend refusing chords: %v", err)
	}
	if len(pub.pubs) != 0 {
		t.Errorf("%d messages published, want none", len(pub.pubs))
	}
}
