// Compiles contracts/escrow.tolk with the pinned tolk-js (WASM) compiler.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTolkCompiler } from '@ton/tolk-js';

export const contractsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Paths of the committed build outputs, relative to the contracts folder. */
export const outputs = {
  boc: join(contractsDir, 'build', 'escrow.boc'),
  hash: join(contractsDir, 'build', 'escrow.code-hash'),
  goEmbed: join(contractsDir, 'escrow', 'escrow.boc'),
};

/**
 * Compiles the escrow and returns the code BOC bytes and the code hash (hex).
 * Throws with the compiler's message when compilation fails.
 */
export async function compileEscrow() {
  const res = await runTolkCompiler({
    entrypointFileName: 'escrow.tolk',
    fsReadCallback: (path) => readFileSync(join(contractsDir, path), 'utf8'),
  });
  if (res.status !== 'ok') {
    throw new Error(`tolk: ${res.message}`);
  }
  return {
    boc: Buffer.from(res.codeBoc64, 'base64'),
    hashHex: res.codeHashHex.toLowerCase(),
    tolkVersion: res.tolkVersion,
    stderr: res.stderr,
  };
}

/** Contents of contracts/build/escrow.code-hash. */
export function hashFileText(r) {
  return `${r.hashHex}\n`;
}
