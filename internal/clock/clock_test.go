package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeFiresInOrderAndOnlyWhenDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	a := f.NewTimer(2 * time.Minute)
	b := f.NewTimer(time.Minute)
	f.Advance(30 * time.Second)
	select {
	case <-a.C():
		t.Fatal("a fired early")
	case <-b.C():
		t.Fatal("b fired early")
	default:
	}
	f.Advance(time.Minute)
	if got := <-b.C(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("b fired at %v", got)
	}
	if f.Waiters() != 1 {
		t.Fatalf("waiters = %d, want 1", f.Waiters())
	}
	if !a.Stop() {
		t.Fatal("Stop of pending timer returned false")
	}
	if f.Waiters() != 0 {
		t.Fatalf("waiters after stop = %d", f.Waiters())
	}
}

func TestFakeBlockUntil(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- f.BlockUntil(ctx, 1)
	}()
	f.NewTimer(time.Hour)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFakeNonPositiveTimerFiresAtOnce(t *testing.T) {
	f := NewFake(time.Unix(100, 0))
	select {
	case <-f.NewTimer(0).C():
	default:
		t.Fatal("zero timer did not fire")
	}
}
