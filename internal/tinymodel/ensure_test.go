package tinymodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/internal/tinymodel"
)

func TestEnsureOllama(t *testing.T) {
	o := testenv.StartOllama(t) // already ran Ensure with DefaultSeed
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	digest := func() (string, time.Time) {
		t.Helper()
		list, err := o.Client.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Models) != 1 || list.Models[0].Name != tinymodel.Model {
			t.Fatalf("models = %+v, want only %s", list.Models, tinymodel.Model)
		}
		m := list.Models[0]
		t.Logf("%s: %d bytes, %s %s, digest %.12s", m.Name, m.Size, m.Details.ParameterSize, m.Details.QuantizationLevel, m.Digest)
		return m.Digest, m.ModifiedAt
	}
	first, created := digest()

	model, err := tinymodel.Ensure(ctx, o.Client, tinymodel.DefaultSeed)
	if err != nil || model != tinymodel.Model {
		t.Fatalf("Ensure again = %q, %v", model, err)
	}
	if d, at := digest(); d != first || !at.Equal(created) {
		t.Fatal("Ensure with the same seed re-created the model")
	}

	if _, err := tinymodel.Ensure(ctx, o.Client, 2); err != nil {
		t.Fatal(err)
	}
	if d, _ := digest(); d == first {
		t.Fatal("Ensure with another seed kept the old weights")
	}
	show, err := o.Client.Show(ctx, &api.ShowRequest{Model: model})
	if err != nil {
		t.Fatal(err)
	}
	if show.Template != tinymodel.Template {
		t.Fatalf("template = %q", show.Template)
	}
	t.Logf("parameters:\n%s", show.Parameters)
}
