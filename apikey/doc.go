// Package apikey keeps the API keys users create and revoke (the bot's
// /apikey) and that the gateway authenticates requests with. A key looks
// like ck-<id>.<secret>; only a SHA-256 of the secret is stored, in Redis
// under the `cocoon:{apikey}:` prefix (see keys.go). Jobs submitted with a
// key run as user `key:<id>`; Payer maps that user back to the key's owner,
// whose balance pays.
//
//	s := apikey.New(rdb)
//	id, key, err := s.Create(ctx, "tg:42")  // show key once; it is never stored
//	id, owner, err := s.Resolve(ctx, key)   // gateway: per request
//	payer, err := s.Payer(ctx, "key:"+id)   // money code: "tg:42"
//	err = s.Revoke(ctx, "tg:42", id)        // the next Resolve fails with ErrRevoked
package apikey
