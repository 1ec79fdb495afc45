// Package escrow builds what Go needs to use the Cocoon escrow contract
// (contracts/escrow.tolk): its code, its address for a client, the vouchers
// the service signs, and the message bodies the contract accepts.
//
// The escrow is the non-custodial option for API clients: the client deposits
// into its own escrow, the service redeems what the client owes with signed
// cumulative vouchers, and the client withdraws the rest after asking to close
// and waiting out the close delay. The compiled code is embedded; the address
// and voucher signatures match the JS bindings byte for byte (parity tests).
//
//	p := escrow.Params{Client: client, Treasury: treasury, ServiceKey: pub, CloseDelay: 24 * time.Hour}
//	addr, err := escrow.Address(p)            // where the client deposits
//	v := escrow.Voucher{Escrow: addr, Cumulative: owed, Seqno: n, Expiry: time.Now().Add(time.Hour)}
//	sig, err := v.Sign(priv)                  // ed25519 over the voucher cell's hash
//	msg, err := escrow.ExternalRedeem(v, sig, queryID) // send with any liteclient
package escrow
