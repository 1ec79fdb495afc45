// Writes the sandbox's default blockchain config cell to contracts/testdata/config.boc,
// for the Go tests that run the escrow in tonutils-go's TVM. Run once per sandbox upgrade.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cell } from '@ton/core';
import { defaultConfig } from '@ton/sandbox';
import { contractsDir } from './lib/compile.mjs';

const cell = Cell.fromBase64(defaultConfig);
const path = join(contractsDir, 'testdata', 'config.boc');
writeFileSync(path, cell.toBoc());
console.log(`wrote contracts/testdata/config.boc (hash ${cell.hash().toString('hex')})`);
