// Writes contracts/testdata/parity-js.json from the JS bindings (see lib/parity.mjs).
import { writeFileSync } from 'node:fs';
import { computeFixture, fixtureJSON, jsInputs, parityFiles } from './lib/parity.mjs';

writeFileSync(parityFiles.js, fixtureJSON(computeFixture(jsInputs)));
console.log('wrote contracts/testdata/parity-js.json');
