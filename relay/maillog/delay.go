package maillog

import (
	"strconv"
	"time"
)

// FormatDelay formats d as Postfix writes delay= and each part of
// delays=: whole seconds from 10s up, two significant digits below, no
// more than two decimals (delay_logging_resolution_limit = 2), trailing
// zeros dropped: "0", "0.02", "0.21", "1.2", "12" (log_adhoc.c, format_tv.c).
func FormatDelay(d time.Duration) string {
	return string(AppendDelay(nil, d))
}

// AppendDelay appends FormatDelay(d) to b.
func AppendDelay(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	const million = 1000000
	const sigDigits, maxDigits = 2, 2 // format_tv's sig_dig and delay_logging_resolution_limit
	sec, usec := int64(d/time.Second), int64(d%time.Second/time.Microsecond)
	ures := int64(million)
	for range maxDigits {
		ures /= 10
	}
	wid := int64(1)
	for range sigDigits {
		wid *= 10
	}
	// The resolution grows with the number so that only the
	// significant digits are written.
	if sec > 0 {
		n := int64(1)
		for sec >= n && n <= wid/10 {
			n *= 10
		}
		ures = million / wid * n
	} else {
		for usec >= wid*ures {
			ures *= 10
		}
	}
	if ures > 1 {
		usec += ures / 2 // round half up
		if usec >= million {
			sec++
			usec -= million
		}
	}
	b = strconv.AppendInt(b, sec, 10)
	if usec >= ures {
		b = append(b, '.')
		for rem, n := usec, int64(million/10); rem >= ures && n > 0; n /= 10 {
			b = append(b, byte('0'+rem/n))
			rem %= n
		}
	}
	return b
}

// Delays are the four parts of Postfix's delays=a/b/c/d: the time before
// the message was claimed for delivery (Postfix: before the active
// queue), the time in the scheduler before the delivery began, the
// connection set-up (DNS, TCP, greeting, EHLO, TLS), and the
// transmission.
type Delays struct {
	Queue, Scheduler, Setup, Transmission time.Duration
}

// String formats d as Postfix's delays= field, "0.02/0/0.05/0.13".
func (d Delays) String() string {
	b := AppendDelay(nil, d.Queue)
	b = append(b, '/')
	b = AppendDelay(b, d.Scheduler)
	b = append(b, '/')
	b = AppendDelay(b, d.Setup)
	b = append(b, '/')
	return string(AppendDelay(b, d.Transmission))
}
