// Package e2e holds the end-to-end tests: real Redis, real Ollama, the
// broker and workers talking over HTTP as in production.
package e2e
