// The committed build outputs must be what a fresh compile gives.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cell } from '@ton/core';
import { defaultConfig } from '@ton/sandbox';
import { compileEscrow, contractsDir, hashFileText, outputs } from '../lib/compile.mjs';

it('committed escrow.boc, its code hash and the Go copy match a fresh compile', async () => {
  const r = await compileEscrow();
  assert.equal(r.tolkVersion, '1.3.0');
  const stale = 'stale build: run `npm run build` in contracts/_js and commit contracts/build and contracts/escrow/escrow.boc';
  assert.ok(readFileSync(outputs.boc).equals(r.boc), stale);
  assert.ok(readFileSync(outputs.goEmbed).equals(r.boc), stale);
  assert.equal(readFileSync(outputs.hash, 'utf8'), hashFileText(r), stale);
  assert.equal(Cell.fromBoc(r.boc)[0].hash().toString('hex'), r.hashHex);
});

it("testdata/config.boc is the sandbox's default config", () => {
  const committed = Cell.fromBoc(readFileSync(join(contractsDir, 'testdata', 'config.boc')))[0];
  const sandbox = Cell.fromBase64(defaultConfig);
  assert.ok(committed.equals(sandbox), 'config changed with the sandbox: run `npm run export-config`');
});
