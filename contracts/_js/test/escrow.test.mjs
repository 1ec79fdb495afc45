// Sandbox tests for contracts/escrow.tolk (node --test). Time-travel tests come last:
// the sandbox refuses to move an account's time backwards.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { Blockchain } from '@ton/sandbox';
import { beginCell, toNano } from '@ton/core';
import { keyPairFromSeed, sign } from '@ton/crypto';
import { findTransaction, flattenTransaction } from '@ton/test-utils';
import {
  Escrow,
  ExitCode,
  MIN_RESERVE,
  Op,
  committedCode,
  signVoucher,
} from '../lib/escrow.mjs';

const T0 = 1_800_000_000; // fixed chain time, so fees and expiries are deterministic
const CLOSE_DELAY = 3600;
const serviceKeys = keyPairFromSeed(Buffer.alloc(32, 0x11));
const otherKeys = keyPairFromSeed(Buffer.alloc(32, 0x22));

let code;
before(() => {
  code = committedCode();
});

async function setup({ deposit = toNano('10'), escrowId = 0 } = {}) {
  const chain = await Blockchain.create();
  chain.now = T0;
  const client = await chain.treasury('client');
  const treasury = await chain.treasury('treasury');
  const service = await chain.treasury('service');
  const stranger = await chain.treasury('stranger');
  const params = {
    client: client.address,
    treasury: treasury.address,
    serviceKey: serviceKeys.publicKey,
    closeDelay: CLOSE_DELAY,
    escrowId,
  };
  const escrow = chain.openContract(Escrow.fromParams(code, params));
  let deployTxs = [];
  if (deposit > 0n) {
    const r = await escrow.sendDeposit(client.getSender(), deposit, 7n);
    deployTxs = r.transactions;
  }
  return { chain, client, treasury, service, stranger, params, escrow, deployTxs };
}

function voucher(escrow, cumulative, seqno, expiry = T0 + 600) {
  return { escrow: escrow.address, cumulative, seqno: BigInt(seqno), expiry };
}

async function balanceOf(chain, address) {
  return (await chain.getContract(address)).balance;
}

/** Sends an external redeem and returns { ok, error } instead of throwing. */
async function redeemExternal(escrow, v, keys = serviceKeys) {
  try {
    const r = await escrow.sendRedeemExternal(v, signVoucher(v, keys.secretKey), 1n);
    return { ok: true, result: r };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Internal redeem from the service wallet; returns the escrow's transaction. */
async function redeemInternal(ctx, v, keys = serviceKeys, value = toNano('0.05')) {
  const r = await ctx.escrow.sendRedeem(ctx.service.getSender(), value, v, signVoucher(v, keys.secretKey), 2n);
  const tx = findTransaction(r.transactions, { from: ctx.service.address, to: ctx.escrow.address });
  assert.ok(tx, 'escrow transaction for the redeem');
  return { r, tx: flattenTransaction(tx) };
}

function assertRejected(res, exitCode) {
  assert.equal(res.ok, false, 'external redeem must not be accepted');
  assert.equal(res.error?.exitCode, exitCode, String(res.error?.message ?? res.error).split('\n').slice(0, 2).join(' '));
}

describe('deposit', () => {
  it('deploys on the first deposit and keeps its params', async () => {
    const { chain, client, treasury, params, escrow, deployTxs } = await setup();
    const tx = findTransaction(deployTxs, { from: client.address, to: escrow.address, deploy: true, success: true });
    assert.ok(tx, 'deploy transaction');
    const bal = await balanceOf(chain, escrow.address);
    assert.ok(bal > toNano('9.99') && bal <= toNano('10'), `balance ${bal}`);
    const d = await escrow.getEscrowData();
    assert.equal(d.seqno, 0n);
    assert.equal(d.redeemed, 0n);
    assert.equal(d.closeRequestedAt, 0);
    assert.ok(d.client.equals(client.address));
    assert.ok(d.treasury.equals(treasury.address));
    assert.equal(d.serviceKey, BigInt('0x' + params.serviceKey.toString('hex')));
    assert.equal(d.closeDelay, CLOSE_DELAY);
    assert.equal(await escrow.getRedeemable(), bal - MIN_RESERVE);
  });

  it('adds a deposit op, a plain transfer and a text comment from anyone to the balance', async () => {
    const { chain, stranger, escrow } = await setup();
    const b0 = await balanceOf(chain, escrow.address);
    await escrow.sendDeposit(stranger.getSender(), toNano('1'), 99n);
    const b1 = await balanceOf(chain, escrow.address);
    assert.ok(b1 - b0 > toNano('0.99') && b1 - b0 <= toNano('1'), `deposit op added ${b1 - b0}`);
    await stranger.send({ to: escrow.address, value: toNano('1') });
    const b2 = await balanceOf(chain, escrow.address);
    assert.ok(b2 - b1 > toNano('0.99'), `plain transfer added ${b2 - b1}`);
    const comment = beginCell().storeUint(0, 32).storeStringTail('top up').endCell();
    await stranger.send({ to: escrow.address, value: toNano('1'), body: comment });
    const b3 = await balanceOf(chain, escrow.address);
    assert.ok(b3 - b2 > toNano('0.99'), `comment added ${b3 - b2}`);
  });

  it('bounces an unknown op', async () => {
    const { stranger, escrow } = await setup();
    const r = await stranger.send({ to: escrow.address, value: toNano('1'), body: beginCell().storeUint(0xdead, 32).endCell(), bounce: true });
    const tx = findTransaction(r.transactions, { to: escrow.address, exitCode: ExitCode.unknownOp, aborted: true });
    assert.ok(tx, 'unknown op refused with 0xFFFF');
  });
});

describe('redeem', () => {
  it('pays cumulative - redeemed to the treasury from a signed external voucher', async (t) => {
    const ctx = await setup();
    const { chain, escrow, treasury } = ctx;
    const v1 = voucher(escrow, toNano('1'), 1);
    const res1 = await redeemExternal(escrow, v1);
    assert.equal(res1.ok, true, String(res1.error));
    const pay1 = findTransaction(res1.result.transactions, { from: escrow.address, to: treasury.address, op: Op.redeemed, success: true });
    assert.ok(pay1, 'payment to treasury');
    assert.equal(flattenTransaction(pay1).value, toNano('1'), 'treasury receives exactly the amount due');
    let d = await escrow.getEscrowData();
    assert.equal(d.seqno, 1n);
    assert.equal(d.redeemed, toNano('1'));

    const v2 = voucher(escrow, toNano('3.5'), 5); // seqno may skip
    const res2 = await redeemExternal(escrow, v2);
    assert.equal(res2.ok, true, String(res2.error));
    const pay2 = findTransaction(res2.result.transactions, { from: escrow.address, to: treasury.address, op: Op.redeemed });
    assert.equal(flattenTransaction(pay2).value, toNano('2.5'));
    const body = pay2.inMessage.body.beginParse();
    assert.equal(body.loadUint(32), Op.redeemed);
    assert.equal(body.loadUintBig(64), 1n); // query id
    assert.equal(body.loadUintBig(64), 5n); // voucher seqno
    assert.equal(body.loadCoins(), toNano('3.5'));
    d = await escrow.getEscrowData();
    assert.equal(d.seqno, 5n);
    assert.equal(d.redeemed, toNano('3.5'));
    const ext = flattenTransaction(findTransaction(res2.result.transactions, { to: escrow.address }));
    assert.ok(ext.totalFees < MIN_RESERVE, `external redeem fees ${ext.totalFees} stay under the reserve`);
    t.diagnostic(`external redeem: total fees ${ext.totalFees} nanoTON`);
    assert.ok((await balanceOf(chain, escrow.address)) > toNano('6.4'));
  });

  it('internal redeem: the escrow loses exactly the amount due, the change goes to the treasury', async () => {
    const ctx = await setup();
    const { chain, escrow, treasury } = ctx;
    const before = await balanceOf(chain, escrow.address);
    const v = voucher(escrow, toNano('2'), 1);
    const { r, tx } = await redeemInternal(ctx, v);
    assert.equal(tx.success, true, `exit ${tx.exitCode}`);
    const pay = flattenTransaction(findTransaction(r.transactions, { from: escrow.address, to: treasury.address, op: Op.redeemed }));
    assert.ok(pay.value > toNano('2') && pay.value < toNano('2.05'), `treasury got ${pay.value}`);
    assert.equal(await balanceOf(chain, escrow.address), before - toNano('2'));
  });

  it('refuses a replayed voucher', async () => {
    const ctx = await setup();
    const v1 = voucher(ctx.escrow, toNano('1'), 1);
    assert.equal((await redeemExternal(ctx.escrow, v1)).ok, true);
    assertRejected(await redeemExternal(ctx.escrow, v1), ExitCode.seqnoNotIncreasing);
    const { tx } = await redeemInternal(ctx, v1);
    assert.equal(tx.exitCode, ExitCode.seqnoNotIncreasing);
    // a fresh seqno cannot repeat (or lower) the cumulative amount
    const same = voucher(ctx.escrow, toNano('1'), 2);
    assert.equal((await redeemInternal(ctx, same)).tx.exitCode, ExitCode.cumulativeNotIncreasing);
    const lower = voucher(ctx.escrow, toNano('0.5'), 3);
    assertRejected(await redeemExternal(ctx.escrow, lower), ExitCode.cumulativeNotIncreasing);
    // an old seqno with a higher amount is a replay too
    const oldSeqno = voucher(ctx.escrow, toNano('2'), 1);
    assert.equal((await redeemInternal(ctx, oldSeqno)).tx.exitCode, ExitCode.seqnoNotIncreasing);
    const d = await ctx.escrow.getEscrowData();
    assert.equal(d.redeemed, toNano('1'));
    assert.equal(d.seqno, 1n);
  });

  it('refuses a voucher signed with another key', async () => {
    const ctx = await setup();
    const v = voucher(ctx.escrow, toNano('1'), 1);
    assertRejected(await redeemExternal(ctx.escrow, v, otherKeys), ExitCode.badSignature);
    assert.equal((await redeemInternal(ctx, v, otherKeys)).tx.exitCode, ExitCode.badSignature);
    // a valid signature over a different voucher does not carry over
    const sig = signVoucher(voucher(ctx.escrow, toNano('1'), 1), serviceKeys.secretKey);
    const tampered = voucher(ctx.escrow, toNano('5'), 1);
    const r = await ctx.escrow.sendRedeem(ctx.service.getSender(), toNano('0.05'), tampered, sig);
    assert.ok(findTransaction(r.transactions, { to: ctx.escrow.address, exitCode: ExitCode.badSignature }));
    assert.equal((await ctx.escrow.getEscrowData()).redeemed, 0n);
  });

  it('refuses a voucher over the balance', async () => {
    const ctx = await setup({ deposit: toNano('1') });
    const bal = await balanceOf(ctx.chain, ctx.escrow.address);
    const tooMuch = voucher(ctx.escrow, bal - MIN_RESERVE + 1n, 1);
    assertRejected(await redeemExternal(ctx.escrow, tooMuch), ExitCode.overBalance);
    // the value attached to an internal redeem does not count as the client's balance
    assert.equal((await redeemInternal(ctx, tooMuch, serviceKeys, toNano('5'))).tx.exitCode, ExitCode.overBalance);
    // all but the reserve can be redeemed (an external redeem pays its import fee first)
    const exact = voucher(ctx.escrow, bal - MIN_RESERVE, 1);
    assert.equal((await redeemInternal(ctx, exact)).tx.success, true);
    assert.equal((await ctx.escrow.getEscrowData()).redeemed, bal - MIN_RESERVE);
  });

  it('refuses an expired voucher', async () => {
    const ctx = await setup();
    const expired = voucher(ctx.escrow, toNano('1'), 1, T0 - 1);
    assertRejected(await redeemExternal(ctx.escrow, expired), ExitCode.voucherExpired);
    assert.equal((await redeemInternal(ctx, expired)).tx.exitCode, ExitCode.voucherExpired);
    const lastSecond = voucher(ctx.escrow, toNano('1'), 1, T0);
    assert.equal((await redeemExternal(ctx.escrow, lastSecond)).ok, true, 'valid through its expiry second');
  });

  it("refuses another escrow's voucher", async () => {
    const a = await setup({ escrowId: 0 });
    const b = a.chain.openContract(Escrow.fromParams(code, { ...a.params, escrowId: 1 }));
    await b.sendDeposit(a.client.getSender(), toNano('10'));
    assert.ok(!a.escrow.address.equals(b.address));
    const forB = voucher(b, toNano('1'), 1);
    const sig = signVoucher(forB, serviceKeys.secretKey);
    const r = await a.escrow.sendRedeem(a.service.getSender(), toNano('0.05'), forB, sig);
    assert.ok(findTransaction(r.transactions, { to: a.escrow.address, exitCode: ExitCode.wrongEscrow }));
    await assert.rejects(a.escrow.sendRedeemExternal(forB, sig), (e) => e.exitCode === ExitCode.wrongEscrow);
    await b.sendRedeemExternal(forB, sig); // fine where it belongs
    assert.equal((await b.getEscrowData()).redeemed, toNano('1'));
  });

  it('refuses a signed cell that is not a voucher', async () => {
    const ctx = await setup();
    const notVoucher = beginCell().storeUint(0x12345678, 32).storeAddress(ctx.escrow.address).storeCoins(toNano('1')).storeUint(1, 64).storeUint(T0 + 60, 32).endCell();
    const sig = sign(notVoucher.hash(), serviceKeys.secretKey);
    const body = beginCell().storeUint(Op.redeem, 32).storeUint(0, 64).storeBuffer(sig).storeRef(notVoucher).endCell();
    const r = await ctx.service.send({ to: ctx.escrow.address, value: toNano('0.05'), body });
    assert.ok(findTransaction(r.transactions, { to: ctx.escrow.address, exitCode: ExitCode.badVoucher }));
  });
});

describe('close and withdraw', () => {
  it('lets only the client request a close or withdraw', async () => {
    const { stranger, escrow } = await setup();
    let r = await escrow.sendRequestClose(stranger.getSender(), toNano('0.05'));
    assert.ok(findTransaction(r.transactions, { to: escrow.address, exitCode: ExitCode.notClient }));
    r = await escrow.sendWithdraw(stranger.getSender(), toNano('0.05'));
    assert.ok(findTransaction(r.transactions, { to: escrow.address, exitCode: ExitCode.notClient }));
  });

  it('refuses a withdraw before a close was requested, and a second close request', async () => {
    const { client, escrow } = await setup();
    let r = await escrow.sendWithdraw(client.getSender(), toNano('0.05'));
    assert.ok(findTransaction(r.transactions, { to: escrow.address, exitCode: ExitCode.closeNotRequested }));
    r = await escrow.sendRequestClose(client.getSender(), toNano('0.05'));
    assert.ok(findTransaction(r.transactions, { to: escrow.address, success: true }));
    assert.equal((await escrow.getEscrowData()).closeRequestedAt, T0);
    r = await escrow.sendRequestClose(client.getSender(), toNano('0.05'));
    assert.ok(findTransaction(r.transactions, { to: escrow.address, exitCode: ExitCode.alreadyClosing }));
  });

  // ---- time travel from here on ----

  it('close delay: redeem still works before it passes, withdraw only after; then everything goes to the client', async () => {
    const ctx = await setup();
    const { chain, client, escrow, treasury } = ctx;
    await escrow.sendRequestClose(client.getSender(), toNano('0.05'));

    chain.now = T0 + CLOSE_DELAY - 1;
    let r = await escrow.sendWithdraw(client.getSender(), toNano('0.05'));
    assert.ok(findTransaction(r.transactions, { to: escrow.address, exitCode: ExitCode.closeDelayNotPassed }));
    const v1 = voucher(escrow, toNano('1'), 1, T0 + 2 * CLOSE_DELAY);
    assert.equal((await redeemExternal(escrow, v1)).ok, true, 'redeem allowed while the close is pending');

    chain.now = T0 + CLOSE_DELAY;
    const v2 = voucher(escrow, toNano('2'), 2, T0 + 2 * CLOSE_DELAY);
    assertRejected(await redeemExternal(escrow, v2), ExitCode.closed);
    assert.equal((await redeemInternal(ctx, v2)).tx.exitCode, ExitCode.closed);

    const left = await balanceOf(chain, escrow.address);
    const clientBefore = await balanceOf(chain, client.address);
    r = await escrow.sendWithdraw(client.getSender(), toNano('0.05'), 42n);
    const pay = findTransaction(r.transactions, { from: escrow.address, to: client.address, op: Op.withdrawn, success: true });
    assert.ok(pay, 'withdrawal paid to the client');
    const paid = flattenTransaction(pay).value;
    assert.ok(paid > left && paid <= left + toNano('0.05'), `client got ${paid} of ${left}`);
    assert.equal(await balanceOf(chain, escrow.address), 0n);
    assert.ok((await balanceOf(chain, client.address)) > clientBefore + left - toNano('0.1'));
    assert.ok(!findTransaction(r.transactions, { to: treasury.address }));

    // open again and empty; seqno/redeemed survive so old vouchers stay void
    const d = await escrow.getEscrowData();
    assert.equal(d.closeRequestedAt, 0);
    assert.equal(d.seqno, 1n);
    assert.equal(d.redeemed, toNano('1'));
    chain.now = T0 + CLOSE_DELAY + 10;
    await escrow.sendDeposit(client.getSender(), toNano('5'));
    assertRejected(await redeemExternal(escrow, v1), ExitCode.seqnoNotIncreasing);
    const v3 = voucher(escrow, toNano('1.5'), 3, T0 + 2 * CLOSE_DELAY);
    const res = await redeemExternal(escrow, v3);
    assert.equal(res.ok, true);
    const p = findTransaction(res.result.transactions, { from: escrow.address, to: treasury.address });
    assert.equal(flattenTransaction(p).value, toNano('0.5'));
  });

  it('expires a voucher as time passes', async () => {
    const ctx = await setup();
    const v = voucher(ctx.escrow, toNano('1'), 1, T0 + 60);
    ctx.chain.now = T0 + 61;
    assertRejected(await redeemExternal(ctx.escrow, v), ExitCode.voucherExpired);
  });
});
