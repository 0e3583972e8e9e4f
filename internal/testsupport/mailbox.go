package testsupport

import (
	"sync"

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
