package broker

import "strconv"

// Redis key schema. Every key of one queue shard carries the hash tag
// {s<shard>} so all scripts of a shard run on one Redis Cluster node; the
// worker registry and nonces have tags of their own. docs/architecture.md
// lists the same schema.
//
//	cocoon:{s<N>}:job:<id>             hash   job envelope and state
//	cocoon:{s<N>}:ev:<id>              stream job events (chunks, segments, terminal)
//	cocoon:{s<N>}:rot:<model>          list   users with queued jobs, round-robin order
//	cocoon:{s<N>}:models               set    models that have had a rotation (the resealer walks them)
//	cocoon:{s<N>}:uq:<model>|<user>    list   one user's queued job ids, FIFO
//	cocoon:{s<N>}:depth:<model>        string queued jobs of the model
//	cocoon:{s<N>}:leases               zset   job id -> lease deadline (ms)
//	cocoon:{s<N>}:retry                zset   job id -> time it may run again (ms)
//	cocoon:{s<N>}:dead                 list   dead-lettered job ids
//	cocoon:{s<N>}:done                 list   done jobs as (ms, id) pairs in completion order; purged after the retention
//	cocoon:{s<N>}:finished             zset   done job id -> ms, as brokers before the done list wrote it (drained by the purge)
//	cocoon:{s<N>}:settle               list   ended billed jobs the settler has not billed yet
//	cocoon:{s<N>}:intents              hash   job id -> "ms|payer|nonce": a billed submit's intent, written before it reserves, deleted when its job is stored (the submit script), refused or resolved (compare-and-set; see intents.go)
//	cocoon:{s<N>}:urun:<model>         hash   user -> running jobs of the model (per-user cap; counts back at 0 are deleted by the purge pass)
//	cocoon:{reg}:workers               hash   worker id -> registration (JSON; written at a join)
//	cocoon:{reg}:status                hash   worker id -> status (JSON: seen, running, draining, loaded; every heartbeat)
//	cocoon:{reg}:nonce:<hex>           string single-use join nonce (TTL)

func shardPrefix(shard int) string { return "cocoon:{s" + strconv.Itoa(shard) + "}:" }

func jobKey(shard int, id string) string    { return shardPrefix(shard) + "job:" + id }
func eventsKey(shard int, id string) string { return shardPrefix(shard) + "ev:" + id }
func rotationKey(shard int, model string) string {
	return shardPrefix(shard) + "rot:" + model
}
func userQueueKey(shard int, model, user string) string {
	return shardPrefix(shard) + "uq:" + model + "|" + user
}
func depthKey(shard int, model string) string { return shardPrefix(shard) + "depth:" + model }
func modelsKey(shard int) string              { return shardPrefix(shard) + "models" }
func leasesKey(shard int) string              { return shardPrefix(shard) + "leases" }
func retryKey(shard int) string               { return shardPrefix(shard) + "retry" }
func deadKey(shard int) string                { return shardPrefix(shard) + "dead" }
func settleKey(shard int) string              { return shardPrefix(shard) + "settle" }
func intentsKey(shard int) string             { return shardPrefix(shard) + "intents" }

const (
	workersKey  = "cocoon:{reg}:workers"
	statusKey   = "cocoon:{reg}:status"
	noncePrefix = "cocoon:{reg}:nonce:"
)
