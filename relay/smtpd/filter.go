package smtpd

import (
	"context"
	"strings"
)

// filterCommand applies Config.CommandFilter, as Postfix's
// smtpd_command_filter: the key is the line without leading blanks, a
// value replaces the line (logged as Postfix logs it). A lookup error
// ends the session with a 421: a table problem must not refuse mail for
// good. ok is false when the session ends.
func (c *conn) filterCommand(ctx context.Context, line string) (string, bool) {
	repl, found, err := c.cfg.CommandFilter(ctx, strings.TrimLeft(line, " \t"))
	switch {
	case err != nil:
		c.cfg.Logger.Warn("smtpd_command_filter lookup error", "client", c.client.String(), "command", truncate(line, 100), "err", err)
		c.send(reply(421, "4.3.0", c.cfg.Hostname+" Server local data error"))
		c.failed, c.quit = true, true
		return "", false
	case found:
		c.cfg.Logger.Info("replacing command", "client", c.client.String(), "command", truncate(line, 100), "with", truncate(repl, 100))
		return repl, true
	}
	return line, true
}
