// Package broker queues jobs in Redis, hands them to workers under leases,
// relays their streamed chunks to followers and recovers jobs whose worker
// died. It is the only code that touches the job keys (see keys.go) and it
// never parses a job's payload.
//
// Two HTTP APIs face outwards: the client API for submitters (bot, ask,
// gateway), authenticated by a service token, and the worker API for
// workers, authenticated by the session token a worker gets when it joins.
//
//	b, err := broker.New(broker.Config{Redis: rdb, Token: token})
//	if err != nil { ... }
//	err = b.Run(ctx) // serves until ctx ends, then drains
package broker
