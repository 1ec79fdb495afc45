package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
)

const adminUsage = `usage: cocoon admin <view>

  pool                 live workers: attestation, models, load
  queues               queued jobs per model
  dead                 dead-lettered jobs
  requeue JOB          put a dead-lettered job back in its queue
  user USER            a user's balance, reservations, recent charges, usage per day and model
  unreserve USER JOB   give back the reservation of a job the broker does not have
                       (listed as missing by: cocoon admin user USER)
  ledger               the money invariant, every term (REDIS_URL); non-zero exit when it fails
  measurement FILE     the COCOON_TDX_ALLOW entry of a TDX quote (raw, hex or base64) or of
                       the workers in a receipt file (cocoon ask --receipt)

The broker views use COCOON_BROKER_URL and COCOON_BROKER_TOKEN.`

// runAdmin is `cocoon admin`: what asynqmon shows for asynq, as text.
func runAdmin(ctx context.Context, env *config.Env, args []string) error {
	if len(args) == 0 {
		return &exitError{2, adminUsage}
	}
	view, rest := args[0], args[1:]
	want := map[string]int{"pool": 0, "queues": 0, "dead": 0, "requeue": 1, "user": 1, "unreserve": 2, "ledger": 0, "measurement": 1}
	n, ok := want[view]
	if !ok || len(rest) != n {
		return &exitError{2, adminUsage}
	}
	switch view {
	case "ledger":
		return runLedger(ctx, env, []string{"check"})
	case "measurement":
		return adminMeasurement(os.Stdout, rest[0])
	}
	url := env.URL("COCOON_BROKER_URL", defaultBrokerURL, "http")
	token := env.Required("COCOON_BROKER_TOKEN", "the broker's service token (the admin views use the client API)")
	if err := env.Err(); err != nil {
		return err
	}
	c := client.New(url, token)
	var err error
	switch view {
	case "pool":
		err = adminPool(ctx, c, os.Stdout, time.Now())
	case "queues":
		err = adminQueues(ctx, c, os.Stdout)
	case "dead":
		err = adminDead(ctx, c, os.Stdout)
	case "requeue":
		if err = c.Requeue(ctx, rest[0]); err == nil {
			fmt.Printf("requeued %s\n", rest[0])
		}
	case "user":
		err = adminUser(ctx, c, os.Stdout, rest[0])
	case "unreserve":
		var res *wire.Reservation
		if res, err = c.Unreserve(ctx, rest[0], rest[1]); err == nil {
			fmt.Printf("gave back %s TON (%d nanoTON) held for job %s\n", ledger.FormatTON(res.Amount), res.Amount, res.Job)
		}
	}
	if err != nil {
		return describe(err)
	}
	return nil
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// ago renders a past Unix-millisecond time as "12s ago".
func ago(ms int64, now time.Time) string {
	if ms <= 0 {
		return "-"
	}
	d := now.Sub(time.UnixMilli(ms)).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}

func adminPool(ctx context.Context, c *client.Client, w io.Writer, now time.Time) error {
	raw, err := c.Pool(ctx)
	if err != nil {
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "WORKER\tNAME\tEVIDENCE\tATTESTED\tMODELS\tLOADED\tRUNNING\tAVG JOB\tSTATE\tSEEN")
	for _, r := range raw {
		var wi broker.WorkerInfo
		if err := json.Unmarshal(r, &wi); err != nil {
			return fmt.Errorf("pool entry does not decode: %w", err)
		}
		attested := "no (insecure-dev)"
		if wi.Attested {
			attested = "yes, " + ago(wi.AttestedMs, now)
		}
		models := make([]string, len(wi.Models))
		for i, m := range wi.Models {
			models[i] = m.Name
		}
		state := "ready"
		if wi.Draining {
			state = "draining"
		}
		avg := "-" // no job answered yet
		if wi.AvgJobMs > 0 {
			avg = (time.Duration(wi.AvgJobMs) * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", wi.ID, orDash(wi.Name), wi.Evidence, attested,
			orDash(strings.Join(models, ",")), orDash(strings.Join(wi.Loaded, ",")), wi.Running, wi.MaxJobs, avg, state, ago(wi.SeenMs, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d workers\n", len(raw))
	return nil
}

func adminQueues(ctx context.Context, c *client.Client, w io.Writer) error {
	raw, err := c.Queues(ctx)
	if err != nil {
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "MODEL\tQUEUED\tWORKERS")
	for _, r := range raw {
		var q broker.QueueInfo
		if err := json.Unmarshal(r, &q); err != nil {
			return fmt.Errorf("queue entry does not decode: %w", err)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\n", q.Model, q.Queued, q.Workers)
	}
	return tw.Flush()
}

func adminDead(ctx context.Context, c *client.Client, w io.Writer) error {
	jobs, err := c.Dead(ctx)
	if err != nil {
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "JOB\tMODEL\tUSER\tATTEMPTS\tTOKENS\tERROR")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", j.ID, j.Model, j.User, j.Attempts, j.CompletionTokens, orDash(oneLine(j.Error, 80)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d dead-lettered jobs", len(jobs))
	if len(jobs) > 0 {
		fmt.Fprint(w, "; requeue one with: cocoon admin requeue JOB")
	}
	fmt.Fprintln(w)
	return nil
}

func adminUser(ctx context.Context, c *client.Client, w io.Writer, user string) error {
	bal, err := c.Balance(ctx, user)
	if err != nil {
		return err
	}
	if !bal.Billing {
		fmt.Fprintf(w, "user %s: billing is off on this broker (COCOON_PRICES unset)\n", user)
		return nil
	}
	acct, err := c.Account(ctx, user)
	if err != nil {
		return err
	}
	tw := table(w)
	fmt.Fprintf(tw, "user\t%s\n", user)
	fmt.Fprintf(tw, "available\t%s TON\t(%d nanoTON)\n", ledger.FormatTON(bal.Available), bal.Available)
	fmt.Fprintf(tw, "reserved\t%s TON\t(%d nanoTON, held by running jobs)\n", ledger.FormatTON(bal.Reserved), bal.Reserved)
	if err := tw.Flush(); err != nil {
		return err
	}
	if bal.Reserved > 0 {
		if err := adminReservations(ctx, c, w, user); err != nil {
			fmt.Fprintf(w, "\nreservations: not listed (%v)\n", describe(err))
		}
	}
	fmt.Fprintf(w, "\nrecent charges (%d)\n", len(acct.Charges))
	tw = table(w)
	fmt.Fprintln(tw, "AT (UTC)\tJOB\tMODEL\tPROMPT\tCOMPLETION\tTON")
	for _, ch := range acct.Charges {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", time.Unix(ch.AtUnix, 0).UTC().Format(time.DateTime), ch.JobID, ch.Model,
			ch.PromptTokens, ch.CompletionTokens, ledger.FormatTON(ch.Amount))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nusage per day and model (last 30 days)\n")
	tw = table(w)
	fmt.Fprintln(tw, "DAY\tMODEL\tJOBS\tPROMPT\tCOMPLETION\tTON")
	for _, u := range acct.Usage {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", u.Day, u.Model, u.Jobs, u.PromptTokens, u.CompletionTokens, ledger.FormatTON(u.Cost))
	}
	return tw.Flush()
}

// adminReservations lists the jobs holding a user's money; a job the
// broker does not have is flagged with the command that gives it back.
func adminReservations(ctx context.Context, c *client.Client, w io.Writer, user string) error {
	res, err := c.Reservations(ctx, user)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nreservations (%d)\n", len(res))
	tw := table(w)
	fmt.Fprintln(tw, "JOB\tTON\tSTATE")
	missing := 0
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Job, ledger.FormatTON(r.Amount), r.State)
		if r.State == wire.ReservationMissing {
			missing++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if missing > 0 {
		fmt.Fprintf(w, "%d held by jobs the broker does not have; the broker gives back what a failed submit left\nafter 5 minutes; if still so after 6, give one back with: cocoon admin unreserve %s JOB\n", missing, user)
	}
	return nil
}

// adminMeasurement prints the allowlist entry (MRTD:RTMR0:RTMR1:RTMR2) of a
// TDX quote file, or of each worker in a receipt file.
func adminMeasurement(w io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var files []receiptFile
	if json.Unmarshal(b, &files) == nil && len(files) > 0 {
		for _, f := range files {
			ev := f.Candidate.Evidence
			if ev.Type != wire.EvidenceTDX || len(ev.Quote) == 0 {
				fmt.Fprintf(w, "# worker %s: %s evidence, no TDX quote\n", f.Candidate.WorkerID, ev.Type)
				continue
			}
			if err := printMeasurement(w, ev.Quote, "worker "+f.Candidate.WorkerID); err != nil {
				return err
			}
		}
		return nil
	}
	return printMeasurement(w, decodeQuote(b), path)
}

// decodeQuote accepts a raw quote or its hex or base64 text.
func decodeQuote(b []byte) []byte {
	s := strings.TrimSpace(string(b))
	if q, err := hex.DecodeString(s); err == nil && len(q) > 0 {
		return q
	}
	if q, err := base64.StdEncoding.DecodeString(s); err == nil && len(q) > 0 {
		return q
	}
	return b
}

func printMeasurement(w io.Writer, quote []byte, what string) error {
	m, err := attest.MeasurementOf(quote)
	if err != nil {
		return &exitError{1, fmt.Sprintf("%s: not a TDX quote: %v", what, err)}
	}
	fmt.Fprintf(w, "# %s: %s\n", what, m)
	fmt.Fprintf(w, "%s:%s:%s:%s\n", m.MRTD, m.RTMR0, m.RTMR1, m.RTMR2)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}

// ledgerCheckEvery is how often the broker runs the ledger check for the
// cocoon_ledger_* metrics (the check scans every user).
const ledgerCheckEvery = 5 * time.Minute

// watchLedger runs the ledger check now and every ledgerCheckEvery until
// ctx ends, publishing each term as cocoon_ledger_nanoton{term} and the
// verdict as cocoon_ledger_ok. runBroker starts it when billing is on.
func watchLedger(ctx context.Context, l *ledger.Ledger, log *slog.Logger) {
	t := time.NewTicker(ledgerCheckEvery)
	defer t.Stop()
	for {
		rep, err := l.Check(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("ledger check for metrics", "err", err)
		case err == nil:
			publishLedger(rep)
			if !rep.OK() {
				log.Error("ledger check failed: run cocoon admin ledger", "difference", rep.Difference(), "problems", len(rep.Problems))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func publishLedger(rep ledger.Report) {
	terms := map[string]int64{
		"user_balances": rep.UserBalances, "reservations": rep.Reservations, "outbox_in_transit": rep.OutboxInTransit,
		"worker_earnings": rep.WorkerEarnings, "payouts_in_flight": rep.PayoutsInFlight, "operator_revenue": rep.OperatorRevenue,
		"deposits_ton": rep.DepositsTON, "deposits_stars": rep.DepositsStars, "deposits_escrow": rep.DepositsEscrow,
		"deposits_trial": rep.DepositsTrial, "payouts": rep.Payouts, "escrow_refunds": rep.EscrowRefunds,
		"difference": rep.Difference(),
	}
	for term, v := range terms {
		obs.LedgerTotals.WithLabelValues(term).Set(float64(v))
	}
	ok := 0.0
	if rep.OK() {
		ok = 1
	}
	obs.LedgerOK.Set(ok)
}
