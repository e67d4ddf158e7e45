package webmail2fa_test

import (
	"context"
	"errors"
	"log"
	"slices"

	"github.com/vigil-ids/vigil/pkg/webmail2fa"
)

// A webmail's login hook after the password check: open the mailbox only when this returns true.
func Example() {
	ctx := context.Background()
	cl, err := webmail2fa.New("https://vigil.example.org", "vk_...", nil)
	if err != nil {
		log.Fatal(err)
	}
	login := func(user, clientIP string, ask func(methods []string, emailTo string) webmail2fa.Code) bool {
		st, err := cl.Status(ctx, user, clientIP)
		if err != nil {
			return false // fail closed
		}
		switch st.Next {
		case webmail2fa.Open:
			return true
		case webmail2fa.Enroll:
			cl.Enroll(ctx, user, "", false)
			return false
		case webmail2fa.Verify:
			if slices.Equal(st.Methods, []string{webmail2fa.MethodEmail}) {
				// ErrThrottled: a code was sent a moment ago and the user still has it.
				if err := cl.SendEmailCode(ctx, user); err != nil && !errors.Is(err, webmail2fa.ErrThrottled) {
					return false
				}
			}
			_, err := cl.Verify(ctx, user, ask(st.Methods, st.EmailTo), clientIP)
			return err == nil
		}
		return false // Deny
	}
	_ = login
}
