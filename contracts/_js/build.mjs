// Compiles contracts/escrow.tolk and writes the committed outputs:
//   contracts/build/escrow.boc        code BOC
//   contracts/build/escrow.code-hash  code hash (hex)
//   contracts/escrow/escrow.boc       the same BOC, embedded by the Go package
// With --check it writes nothing and exits 1 when a fresh compile differs.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { relative } from 'node:path';
import { compileEscrow, contractsDir, hashFileText, outputs } from './lib/compile.mjs';

async function main() {
  const check = process.argv.includes('--check');
  const r = await compileEscrow();
  const want = [
    [outputs.boc, r.boc],
    [outputs.goEmbed, r.boc],
    [outputs.hash, Buffer.from(hashFileText(r))],
  ];
  let stale = 0;
  for (const [path, bytes] of want) {
    const name = relative(contractsDir, path);
    if (check) {
      if (!existsSync(path) || !readFileSync(path).equals(bytes)) {
        console.error(`stale: contracts/${name} differs from a fresh compile (run: npm run build)`);
        stale++;
      }
    } else {
      writeFileSync(path, bytes);
      console.log(`wrote contracts/${name}`);
    }
  }
  console.log(`escrow code hash ${r.hashHex} (tolk ${r.tolkVersion}, ${r.boc.length} bytes)`);
  if (stale) process.exit(1);
}

await main();
