// Package broker queues jobs in Redis, hands them to workers under leases,
// relays their streamed chunks to followers and recovers jobs whose worker
// died. It is the only code that touches the job keys (see keys.go) and it
// never parses a job's payload.
//
// Two HTTP APIs face outwards: the client API for submitters (bot, ask,
// gateway), authenticated by a service token, and the worker API for
// workers, authenticated by the session token a worker gets when it joins.
//
// With billing on (Config.Money) a submit reserves the job's maximum cost
// in the ledger before it queues the job, after writing a submit intent
// (intents.go) so that a reservation whose job was never stored is found
// and given back; the settler settles or releases it when the job ends
// (settler.go). docs/architecture.md, Money, has the whole flow.
//
//	b, err := broker.New(broker.Config{Redis: rdb, Token: token})
//	if err != nil { ... }
//	err = b.Run(ctx) // serves until ctx ends, then drains
package broker
