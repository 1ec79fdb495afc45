// Parity fixtures shared with the Go package: the same inputs must give the same
// escrow address, voucher cell and signature, and message bodies in JS and Go.
//   contracts/testdata/parity-js.json  written here (npm run fixtures), checked by JS and Go tests
//   contracts/testdata/parity-go.json  written by the Go tests (-update), checked by JS and Go tests
import { join } from 'node:path';
import { Address } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { contractsDir } from './compile.mjs';
import {
  committedCode,
  depositBody,
  escrowAddress,
  escrowData,
  redeemBody,
  requestCloseBody,
  signVoucher,
  voucherCell,
  withdrawBody,
} from './escrow.mjs';

export const parityFiles = {
  js: join(contractsDir, 'testdata', 'parity-js.json'),
  go: join(contractsDir, 'testdata', 'parity-go.json'),
};

/** Inputs of the JS-written fixture. */
export const jsInputs = [
  {
    name: 'basechain defaults',
    client: '0:' + '11'.repeat(32),
    treasury: '0:' + '22'.repeat(32),
    service_seed: '33'.repeat(32),
    close_delay: 86400,
    escrow_id: 0,
    workchain: 0,
    vouchers: [
      { cumulative: '1000000000', seqno: '1', expiry: 1800000600, query_id: '0' },
      { cumulative: '3500000000', seqno: '7', expiry: 1800003600, query_id: '42' },
    ],
  },
  {
    name: 'second escrow of the same client',
    client: '0:' + '11'.repeat(32),
    treasury: '0:' + '22'.repeat(32),
    service_seed: '33'.repeat(32),
    close_delay: 86400,
    escrow_id: 1,
    workchain: 0,
    vouchers: [{ cumulative: '1', seqno: '1', expiry: 1, query_id: '1' }],
  },
  {
    name: 'masterchain, extreme values',
    client: '-1:' + 'ab'.repeat(32),
    treasury: '0:' + '0f'.repeat(32),
    service_seed: 'fe'.repeat(32),
    close_delay: 4294967295,
    escrow_id: 4294967295,
    workchain: -1,
    vouchers: [{ cumulative: '18446744073709551615', seqno: '18446744073709551615', expiry: 4294967295, query_id: '18446744073709551615' }],
  },
];

/** Computes the expected outputs for one fixture input with the JS bindings. */
export function computeCase(input, code = committedCode()) {
  const keys = keyPairFromSeed(Buffer.from(input.service_seed, 'hex'));
  const params = {
    client: Address.parseRaw(input.client),
    treasury: Address.parseRaw(input.treasury),
    serviceKey: keys.publicKey,
    closeDelay: input.close_delay,
    escrowId: input.escrow_id,
  };
  const addr = escrowAddress(code, params, input.workchain);
  return {
    name: input.name,
    client: input.client,
    treasury: input.treasury,
    service_seed: input.service_seed,
    close_delay: input.close_delay,
    escrow_id: input.escrow_id,
    workchain: input.workchain,
    service_public_key: keys.publicKey.toString('hex'),
    data_hash: escrowData(params).hash().toString('hex'),
    address: addr.toRawString(),
    address_friendly: addr.toString({ bounceable: true, urlSafe: true, testOnly: false }),
    vouchers: input.vouchers.map((vi) => {
      const v = { escrow: addr, cumulative: BigInt(vi.cumulative), seqno: BigInt(vi.seqno), expiry: vi.expiry };
      const sig = signVoucher(v, keys.secretKey);
      return {
        cumulative: vi.cumulative,
        seqno: vi.seqno,
        expiry: vi.expiry,
        query_id: vi.query_id,
        cell_hash: voucherCell(v).hash().toString('hex'),
        signature: sig.toString('hex'),
        redeem_body_hash: redeemBody(v, sig, BigInt(vi.query_id)).hash().toString('hex'),
        deposit_body_hash: depositBody(BigInt(vi.query_id)).hash().toString('hex'),
        request_close_body_hash: requestCloseBody(BigInt(vi.query_id)).hash().toString('hex'),
        withdraw_body_hash: withdrawBody(BigInt(vi.query_id)).hash().toString('hex'),
      };
    }),
  };
}

/** The whole fixture for a list of inputs. */
export function computeFixture(inputs, code = committedCode()) {
  return {
    comment: 'escrow parity fixture: inputs and the outputs both bindings must compute',
    code_hash: code.hash().toString('hex'),
    cases: inputs.map((i) => computeCase(i, code)),
  };
}

/** Recovers the inputs of a fixture (to recompute it with these bindings). */
export function fixtureInputs(fixture) {
  return fixture.cases.map((c) => ({
    name: c.name,
    client: c.client,
    treasury: c.treasury,
    service_seed: c.service_seed,
    close_delay: c.close_delay,
    escrow_id: c.escrow_id,
    workchain: c.workchain,
    vouchers: c.vouchers.map((v) => ({ cumulative: v.cumulative, seqno: v.seqno, expiry: v.expiry, query_id: v.query_id })),
  }));
}

export function fixtureJSON(fixture) {
  return JSON.stringify(fixture, null, 2) + '\n';
}
