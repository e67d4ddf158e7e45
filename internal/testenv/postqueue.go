package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// QueuedMessage is one line of postqueue -j: a message in one of Postfix's queues.
type QueuedMessage struct {
	Queue   string `json:"queue_name"` // incoming, active, deferred, hold
	QueueID string `json:"queue_id"`
	Size    int64  `json:"message_size"`
	Sender  string `json:"sender"`
}

// Queue lists the messages in the instance's queues (postqueue -j), failing the test when postqueue fails.
func (p *Postfix) Queue(t testing.TB) []QueuedMessage {
	t.Helper()
	out, err := exec.Command(lookBin(t, "postqueue", "postfix"), "-c", p.ConfigDir, "-j").Output()
	if err != nil {
		t.Fatalf("postqueue -j: %v", err)
	}
	var msgs []QueuedMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m QueuedMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("postqueue -j line %q: %v", sc.Bytes(), err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// QueueOf is the queue the instance has message queueID in (postqueue -j), "" when it has none.
func (p *Postfix) QueueOf(t testing.TB, queueID string) string {
	t.Helper()
	for _, m := range p.Queue(t) {
		if m.QueueID == queueID {
			return m.Queue
		}
	}
	return ""
}
