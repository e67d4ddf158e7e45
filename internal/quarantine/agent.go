package quarantine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// AgentOptions configures a mail-host agent.
type AgentOptions struct {
	Host     string // this mail host's name, as the ingest side records it (required)
	Postfix  Postfix
	Replicas int // of the streams, when the agent creates them
	Now      func() time.Time
}

// Agent carries out the release and delete commands for one mail host. Its consumer is durable, and a command is
// acknowledged only after its result is stored, so commands survive a restart; a repeated command is harmless
// (the message is no longer held, and the result says where it is).
type Agent struct {
	opts   AgentOptions
	js     jetstream.JetStream
	logger *slog.Logger
	runs   *prometheus.CounterVec
}

// NewAgent returns an agent; Run starts it.
func NewAgent(js jetstream.JetStream, o AgentOptions, logger *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	if err := CheckHost(o.Host); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Postfix.setDefaults()
	a := &Agent{opts: o, js: js, logger: logger.With("host", o.Host)}
	a.runs = promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Name: "vigil_mailhost_commands_total",
		Help: "Release and delete commands the mail-host agent handled, by action and outcome (released, deleted, not_held, failed, invalid)."},
		[]string{"action", "outcome"})
	return a, nil
}

// Run consumes the host's commands until ctx is cancelled, then drains and returns nil.
func (a *Agent) Run(ctx context.Context) error {
	// The auth API manages the streams; the agent creates them only when the command stream is missing, so one
	// whose NATS user may only read that stream's info (docs/quarantine.md) does not wait for refused requests.
	if _, err := a.js.Stream(ctx, CommandStream); err != nil {
		if err := EnsureStreams(ctx, a.js, a.opts.Replicas); err != nil {
			a.logger.Warn("quarantine streams not ensured; using them as they are", "err", err)
		}
	}
	c, err := a.js.CreateOrUpdateConsumer(ctx, CommandStream, jetstream.ConsumerConfig{
		Durable: AgentConsumer(a.opts.Host), FilterSubject: CommandSubject(a.opts.Host), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 2 * time.Minute, MaxDeliver: -1, MaxAckPending: 1, Description: "Vigil mail-host agent of " + a.opts.Host,
	})
	if err != nil {
		return fmt.Errorf("mailhost consumer: %w", err)
	}
	a.logger.Info("mail-host agent started", "subject", CommandSubject(a.opts.Host), "postsuper", a.opts.Postfix.Postsuper)
	it, err := c.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		return fmt.Errorf("mailhost consumer: %w", err)
	}
	defer context.AfterFunc(ctx, it.Drain)()
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			a.logger.Warn("fetch commands", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		a.handle(ctx, msg)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// handle carries out one command and reports it; the message is acknowledged once the result is stored.
func (a *Agent) handle(ctx context.Context, msg jetstream.Msg) {
	cmd, err := DecodeCommand(msg.Data())
	if err == nil && cmd.Host != a.opts.Host {
		err = fmt.Errorf("%w: command for host %q reached agent %q", ErrRecord, cmd.Host, a.opts.Host)
	}
	if err != nil { // nothing is run; the command can never succeed
		a.runs.WithLabelValues("unknown", "invalid").Inc()
		a.logger.Warn("command refused", "err", err)
		msg.Term()
		return
	}
	res := a.Execute(ctx, cmd)
	a.runs.WithLabelValues(cmd.Action, res.Outcome).Inc()
	log := a.logger.With("queue_id", cmd.QueueID, "action", cmd.Action, "by", cmd.By, "outcome", res.Outcome)
	if res.Error != "" {
		log.Warn("command failed", "err", res.Error)
	} else {
		log.Info("command done", "queue", res.Queue)
	}
	if err := a.report(context.WithoutCancel(ctx), res); err != nil {
		log.Error("result not stored; the command will be redelivered", "err", err)
		msg.NakWithDelay(5 * time.Second)
		return
	}
	msg.Ack()
}

// Execute carries out a command: the message must be in the hold queue; then postsuper releases or deletes it, and
// the queue is read again to report where the message is.
func (a *Agent) Execute(ctx context.Context, cmd Command) (res Result) {
	res = Result{CommandID: cmd.ID, Action: cmd.Action, Host: cmd.Host, QueueID: cmd.QueueID, By: cmd.By, Requested: cmd.At}
	defer func() { res.At = a.opts.Now().UTC() }()
	fail := func(err error) Result {
		res.Outcome, res.Error = OutcomeFailed, clean(err.Error())
		return res
	}
	if err := cmd.Validate(); err != nil {
		return fail(err)
	}
	pf := &a.opts.Postfix
	q, err := pf.Queue(ctx, cmd.QueueID)
	if err != nil {
		return fail(err)
	}
	if q != "hold" {
		res.Outcome, res.Queue = OutcomeNotHeld, q
		return res
	}
	if cmd.Action == ActionRelease {
		err = pf.Release(ctx, cmd.QueueID)
	} else {
		err = pf.Delete(ctx, cmd.QueueID)
	}
	if err != nil {
		return fail(err)
	}
	if res.Queue, err = pf.Queue(ctx, cmd.QueueID); err != nil {
		return fail(err)
	}
	switch {
	case res.Queue == "hold":
		res.Error = clean(fmt.Sprintf("postsuper %s succeeded but the message is still held", cmd.Action))
		res.Outcome = OutcomeFailed
	case cmd.Action == ActionRelease:
		res.Outcome = OutcomeReleased
	case res.Queue != "":
		res.Outcome, res.Error = OutcomeFailed, "postsuper -d succeeded but the message is in the "+res.Queue+" queue"
	default:
		res.Outcome = OutcomeDeleted
	}
	return res
}

func (a *Agent) report(ctx context.Context, res Result) error {
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = a.js.Publish(ctx, ResultSubject(res.Host), data, jetstream.WithMsgID("result."+res.CommandID))
	return err
}

// clean makes an error text fit a result: control characters become spaces, at most maxText bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > maxText {
		s = s[:maxText]
		for !utf8ValidTail(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func utf8ValidTail(s string) bool { return strings.ToValidUTF8(s, "") == s }
