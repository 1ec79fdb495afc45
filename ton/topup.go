package ton

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/xssnick/tonutils-go/address"
)

// TopupLink returns a ton://transfer link that opens any TON wallet
// (Telegram's included) with the deposit address, amount and memo filled in.
// An amountNano of zero or less leaves the amount to the user. Format addr
// for the network first (Network.Format keeps testnet addresses testnet).
func TopupLink(addr string, amountNano int64, memo string) string {
	q := []string{}
	if amountNano > 0 {
		q = append(q, "amount="+strconv.FormatInt(amountNano, 10))
	}
	if memo != "" {
		q = append(q, "text="+strings.ReplaceAll(url.QueryEscape(memo), "+", "%20"))
	}
	link := "ton://transfer/" + url.PathEscape(addr)
	if len(q) > 0 {
		link += "?" + strings.Join(q, "&")
	}
	return link
}

// TopupQR renders link as a 512×512 PNG QR code.
func TopupQR(link string) ([]byte, error) {
	png, err := qrcode.Encode(link, qrcode.Medium, 512)
	if err != nil {
		return nil, fmt.Errorf("topup qr: %w", err)
	}
	return png, nil
}

// Topup is what /topup shows a user: where to send, the memo, a link and a QR
// image of the link.
type Topup struct {
	Address string // user-friendly, bounceable, testnet-flagged on testnet
	Memo    string
	Link    string
	QR      []byte // PNG
}

// NewTopup builds the top-up instructions for user. The address is shown
// bounceable, so a transfer to a deposit wallet that is not deployed yet
// returns to the sender instead of being stuck.
func NewTopup(n Network, deposit *address.Address, user string, amountNano int64) (Topup, error) {
	memo, err := Memo(user)
	if err != nil {
		return Topup{}, err
	}
	t := Topup{Address: n.Format(deposit.Bounce(true)), Memo: memo}
	t.Link = TopupLink(t.Address, amountNano, memo)
	if t.QR, err = TopupQR(t.Link); err != nil {
		return Topup{}, err
	}
	return t, nil
}
