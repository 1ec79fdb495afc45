// Parity with the Go package contracts/escrow: both fixtures must be what JS computes.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { computeFixture, fixtureInputs, jsInputs, parityFiles } from '../lib/parity.mjs';

function read(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

it('parity-js.json is what the JS bindings compute (Go checks the same file)', () => {
  const want = read(parityFiles.js);
  assert.deepEqual(want, computeFixture(jsInputs), 'stale fixture: run npm run fixtures, then go test ./contracts/...');
});

it('parity-go.json, written by the Go bindings, is what the JS bindings compute', () => {
  const goFixture = read(parityFiles.go);
  assert.ok(goFixture.cases.length > 0);
  assert.deepEqual(computeFixture(fixtureInputs(goFixture)), goFixture);
});
