// Package gateway is Cocoon's OpenAI-compatible HTTP API: POST
// /v1/chat/completions (streaming and not) and GET /v1/models, authenticated
// by the API keys of package apikey. It is a submitter like the bot: it sees
// prompts and answers in the clear, turns each request into a job through
// the broker's client API (package submit) as user key:<id>, and is never
// part of the broker.
//
//	g, err := gateway.New(gateway.Config{
//		Addr:   "127.0.0.1:7800",
//		Broker: client.New(brokerURL, serviceToken),
//		Keys:   apikey.New(rdb),
//	})
//	err = g.Run(ctx) // until ctx ends, then drains (see Serve)
//
// Any OpenAI client works with base URL http://127.0.0.1:7800/v1 and an API
// key ck-... as its key. Requests are validated strictly (DecodeChatRequest);
// errors have OpenAI's shape {"error": {"message", "type", "param", "code"}}.
package gateway
