// JS bindings for contracts/escrow.tolk: the same cells the Go package
// github.com/cocoon-network/cocoon/contracts/escrow builds (see the parity tests).
import { readFileSync } from 'node:fs';
import { beginCell, Cell, contractAddress, SendMode } from '@ton/core';
import { sign } from '@ton/crypto';
import { outputs } from './compile.mjs';

export const Op = {
  deposit: 0xbc7381ca,
  redeem: 0x06fe75b5,
  requestClose: 0xc7436050,
  withdraw: 0x91435424,
  redeemed: 0xaa51f1ec, // body of the payment to the treasury
  withdrawn: 0x449a0457, // body of the payment to the client
};

/** Tag in front of every voucher cell. */
export const VOUCHER_TAG = 0x223a09ca;

/** Nanotons every redeem leaves on the escrow (MIN_RESERVE in escrow.tolk). */
export const MIN_RESERVE = 10_000_000n;

export const ExitCode = {
  notClient: 130,
  badSignature: 131,
  wrongEscrow: 132,
  voucherExpired: 133,
  seqnoNotIncreasing: 134,
  cumulativeNotIncreasing: 135,
  overBalance: 136,
  closed: 137,
  closeNotRequested: 138,
  closeDelayNotPassed: 139,
  alreadyClosing: 140,
  badVoucher: 141,
  unknownOp: 0xffff,
};

/** The committed compiled code (contracts/build/escrow.boc). */
export function committedCode() {
  return Cell.fromBoc(readFileSync(outputs.boc))[0];
}

/**
 * Initial data cell. params: { client: Address, treasury: Address,
 * serviceKey: Buffer(32), closeDelay: number (s), escrowId: number }.
 */
export function escrowData(params) {
  if (params.serviceKey.length !== 32) throw new Error('service key must be 32 bytes');
  const p = beginCell()
    .storeAddress(params.client)
    .storeAddress(params.treasury)
    .storeBuffer(params.serviceKey)
    .storeUint(params.closeDelay, 32)
    .storeUint(params.escrowId ?? 0, 32)
    .endCell();
  return beginCell()
    .storeUint(0, 64) // seqno
    .storeCoins(0) // redeemed
    .storeUint(0, 32) // close requested at
    .storeRef(p)
    .endCell();
}

export function escrowStateInit(code, params) {
  return { code, data: escrowData(params) };
}

export function escrowAddress(code, params, workchain = 0) {
  return contractAddress(workchain, escrowStateInit(code, params));
}

/** voucher: { escrow: Address, cumulative: bigint, seqno: bigint|number, expiry: number } */
export function voucherCell(v) {
  return beginCell()
    .storeUint(VOUCHER_TAG, 32)
    .storeAddress(v.escrow)
    .storeCoins(v.cumulative)
    .storeUint(v.seqno, 64)
    .storeUint(v.expiry, 32)
    .endCell();
}

/** Ed25519 signature (64 bytes) over the voucher cell's hash. secretKey is the 64-byte NaCl key. */
export function signVoucher(v, secretKey) {
  return sign(voucherCell(v).hash(), secretKey);
}

export function depositBody(queryId = 0n) {
  return beginCell().storeUint(Op.deposit, 32).storeUint(queryId, 64).endCell();
}

/** Body of a redeem, internal or external. */
export function redeemBody(v, signature, queryId = 0n) {
  if (signature.length !== 64) throw new Error('signature must be 64 bytes');
  return beginCell()
    .storeUint(Op.redeem, 32)
    .storeUint(queryId, 64)
    .storeBuffer(signature)
    .storeRef(voucherCell(v))
    .endCell();
}

export function requestCloseBody(queryId = 0n) {
  return beginCell().storeUint(Op.requestClose, 32).storeUint(queryId, 64).endCell();
}

export function withdrawBody(queryId = 0n) {
  return beginCell().storeUint(Op.withdraw, 32).storeUint(queryId, 64).endCell();
}

/** A @ton/core Contract for the sandbox and for real providers. */
export class Escrow {
  constructor(address, init) {
    this.address = address;
    this.init = init;
  }

  static fromParams(code, params, workchain = 0) {
    const init = escrowStateInit(code, params);
    return new Escrow(contractAddress(workchain, init), init);
  }

  static fromAddress(address) {
    return new Escrow(address);
  }

  async sendDeposit(provider, via, value, queryId = 0n) {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: depositBody(queryId) });
  }

  async sendRedeem(provider, via, value, voucher, signature, queryId = 0n) {
    await provider.internal(via, {
      value,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      body: redeemBody(voucher, signature, queryId),
    });
  }

  async sendRedeemExternal(provider, voucher, signature, queryId = 0n) {
    await provider.external(redeemBody(voucher, signature, queryId));
  }

  async sendRequestClose(provider, via, value, queryId = 0n) {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: requestCloseBody(queryId) });
  }

  async sendWithdraw(provider, via, value, queryId = 0n) {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: withdrawBody(queryId) });
  }

  async getEscrowData(provider) {
    const { stack } = await provider.get('escrowData', []);
    return {
      seqno: stack.readBigNumber(),
      redeemed: stack.readBigNumber(),
      closeRequestedAt: stack.readNumber(),
      client: stack.readAddress(),
      treasury: stack.readAddress(),
      serviceKey: stack.readBigNumber(),
      closeDelay: stack.readNumber(),
      escrowId: stack.readNumber(),
    };
  }

  async getRedeemable(provider) {
    const { stack } = await provider.get('redeemable', []);
    return stack.readBigNumber();
  }
}

