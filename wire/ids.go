package wire

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// NumShards is the number of queue shards. Every key of one shard carries the
// same Redis Cluster hash tag, so one shard's scripts run on one node. A
// model's jobs all live in the shard ShardOf(model).
const NumShards = 16

// ShardOf maps a model name to its shard.
func ShardOf(model string) int {
	h := fnv.New32a()
	h.Write([]byte(model))
	return int(h.Sum32() % NumShards)
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewJobID returns a fresh job id for model: "<shard>-<26 random chars>".
// Submitters generate ids themselves so they can bind keys to the id before
// the broker sees the job.
func NewJobID(model string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return strconv.Itoa(ShardOf(model)) + "-" + idEncoding.EncodeToString(b[:])
}

// ParseJobID validates id and returns its shard.
func ParseJobID(id string) (int, error) {
	s, rest, ok := strings.Cut(id, "-")
	if !ok || len(rest) < 16 || len(rest) > 64 {
		return 0, fmt.Errorf("job id %q: want <shard>-<random>", id)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= NumShards || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("job id %q: bad shard", id)
	}
	for _, c := range rest {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return 0, fmt.Errorf("job id %q: bad character %q", id, c)
		}
	}
	return n, nil
}
