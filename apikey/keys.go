package apikey

// The API keys' Redis key schema. Every key is built here and nowhere else.
// All keys share the hash tag {apikey}, so every script runs on one Redis
// Cluster slot; the broker's and the bot's keys are never touched.
//
// | key | type | holds |
// |---|---|---|
// | cocoon:{apikey}:key:<id> | hash | owner, hash (hex SHA-256 of the secret), created (ms), revoked (ms, once revoked; the hash then expires after RevokedRetention) |
// | cocoon:{apikey}:owner:<owner> | zset | the owner's key ids (active and revoked) → created (ms) |
// | cocoon:{apikey}:live:<owner> | set | the owner's active key ids (the per-owner limit) |
const keyPrefix = "cocoon:{apikey}:"

func keyKey(id string) string      { return keyPrefix + "key:" + id }
func ownerKey(owner string) string { return keyPrefix + "owner:" + owner }
func liveKey(owner string) string  { return keyPrefix + "live:" + owner }
