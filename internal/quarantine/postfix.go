package quarantine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Postfix runs Postfix's queue tools for the agent, never through a shell and only with checked queue ids.
type Postfix struct {
	Postqueue string        // path of postqueue; default /usr/sbin/postqueue
	Postsuper string        // path of postsuper; default /usr/sbin/postsuper
	ConfigDir string        // -c: Postfix's configuration directory; "" for the default
	Sudo      string        // path of sudo: postsuper runs as "sudo -n -- postsuper ..." (an agent that is not root); "" runs it directly
	Timeout   time.Duration // per tool run; default 30s
}

func (p *Postfix) setDefaults() {
	if p.Postqueue == "" {
		p.Postqueue = "/usr/sbin/postqueue"
	}
	if p.Postsuper == "" {
		p.Postsuper = "/usr/sbin/postsuper"
	}
	if p.Timeout == 0 {
		p.Timeout = 30 * time.Second
	}
}

// maxQueueLine bounds one line of postqueue -j (a message with many recipients makes a long line).
const maxQueueLine = 16 << 20

// Queue returns the queue Postfix has the message in (hold, incoming, active, deferred, ...), or "" when it is in
// none, by reading postqueue -j.
func (p *Postfix) Queue(ctx context.Context, queueID string) (string, error) {
	if err := CheckQueueID(queueID); err != nil {
		return "", err
	}
	p.setDefaults()
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Postqueue, p.args("-j")...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("postqueue: %w", err)
	}
	queue, scanErr := findInQueue(out, queueID)
	if scanErr != nil {
		io.Copy(io.Discard, out)
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("postqueue -j: %w: %s", err, stderr.text())
	}
	return queue, scanErr
}

// findInQueue reads postqueue -j's JSON lines and returns queueID's queue_name.
func findInQueue(r io.Reader, queueID string) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxQueueLine)
	var rec struct {
		QueueName string `json:"queue_name"`
		QueueID   string `json:"queue_id"`
	}
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(queueID)) {
			continue
		}
		rec.QueueName, rec.QueueID = "", ""
		if err := json.Unmarshal(line, &rec); err != nil {
			return "", fmt.Errorf("postqueue -j: unreadable line: %w", err)
		}
		if rec.QueueID == queueID {
			return rec.QueueName, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("postqueue -j: %w", err)
	}
	return "", nil
}

// Release runs postsuper -H queueID, which moves the message from the hold queue to the deferred queue, then
// postqueue -i queueID, so that it is delivered now rather than at the next deferred-queue run (queue_run_delay,
// 300s by default).
func (p *Postfix) Release(ctx context.Context, queueID string) error {
	if err := p.postsuper(ctx, queueID, "-H", queueID); err != nil {
		return err
	}
	return p.run(ctx, queueID, p.Postqueue, "-i", queueID)
}

// Delete runs postsuper -d queueID hold (only from the hold queue).
func (p *Postfix) Delete(ctx context.Context, queueID string) error {
	return p.postsuper(ctx, queueID, "-d", queueID, "hold")
}

func (p *Postfix) postsuper(ctx context.Context, queueID string, args ...string) error {
	p.setDefaults()
	if p.Sudo != "" {
		return p.runVia(ctx, queueID, p.Sudo, []string{"-n", "--", p.Postsuper}, args...)
	}
	return p.run(ctx, queueID, p.Postsuper, args...)
}

// run runs a tool whose arguments name queueID, after checking it once more.
func (p *Postfix) run(ctx context.Context, queueID, tool string, args ...string) error {
	return p.runVia(ctx, queueID, tool, nil, args...)
}

// runVia runs tool with prefix before Postfix's arguments (sudo's "-n -- postsuper").
func (p *Postfix) runVia(ctx context.Context, queueID, tool string, prefix []string, args ...string) error {
	if err := CheckQueueID(queueID); err != nil {
		return err
	}
	p.setDefaults()
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append(prefix, p.args(args...)...)...)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(tool), args[0], err, out.text())
	}
	return nil
}

func (p *Postfix) args(a ...string) []string {
	if p.ConfigDir == "" {
		return a
	}
	return append([]string{"-c", p.ConfigDir}, a...)
}

// limitedBuffer keeps the first 1 KiB written to it (a tool's error output).
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 1024 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) text() string {
	return strings.TrimSpace(strings.ToValidUTF8(l.b.String(), "?"))
}
