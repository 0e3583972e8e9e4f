package testsupport

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/mailer"
)

// Mailbox keeps the mails an app sends instead of sending them.
type Mailbox struct {
	mu       sync.Mutex
	messages []*mailer.Message
}

// CatchMail makes app's mails land in the returned Mailbox.
func CatchMail(app core.App) *Mailbox {
	box := &Mailbox{}
	app.OnMailerSend().BindFunc(func(e *core.MailerEvent) error {
		box.mu.Lock()
		defer box.mu.Unlock()
		box.messages = append(box.messages, e.Message)
		return nil // not e.Next(): nothing leaves the process
	})
	return box
}

// Count is the number of mails sent so far.
func (b *Mailbox) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.messages)
}

// Last is the last mail sent, nil before the first.
func (b *Mailbox) Last() *mailer.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.messages) == 0 {
		return nil
	}
	return b.messages[len(b.messages)-1]
}

// otpCode is the code in PocketBase's default OTP mail.
var otpCode = regexp.MustCompile(`<strong>([0-9A-Za-z]+)</strong>`)

// OTPCode waits for the mail that follows the first sent mails
// (PocketBase sends them in the background) and returns the one-time
// password it carries.
func (b *Mailbox) OTPCode(t testing.TB, sent int) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.Count() <= sent; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no mail was sent")
		}
	}
	match := otpCode.FindStringSubmatch(b.Last().HTML)
	if match == nil {
		t.Fatalf("no code in the mail: %s", b.Last().HTML)
	}
	return match[1]
}
