package ledger

import (
	"bytes"
	"strings"
)

type testWriter struct{ bytes.Buffer }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
