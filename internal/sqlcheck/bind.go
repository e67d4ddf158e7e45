package sqlcheck

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bind replaces each ? placeholder outside quotes with args as SQL literals, as clickhouse-go binds them on the
// client, for engines reached without the driver (chDB).
func Bind(sql string, args []any) (string, error) {
	var b strings.Builder
	var quote byte
	used := 0
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(sql) {
				b.WriteByte(c)
				i++
				c = sql[i]
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '?':
			if used == len(args) {
				return "", fmt.Errorf("more placeholders than the %d arguments", len(args))
			}
			lit, err := literal(args[used])
			if err != nil {
				return "", fmt.Errorf("argument %d: %w", used+1, err)
			}
			used++
			b.WriteString(lit)
			continue
		}
		b.WriteByte(c)
	}
	if used != len(args) {
		return "", fmt.Errorf("%d placeholders for %d arguments", used, len(args))
	}
	return b.String(), nil
}

func literal(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return quoteString(v), nil
	case time.Time:
		return "toDateTime(" + quoteString(v.UTC().Format(time.DateTime)) + ", 'UTC')", nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint32:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = quoteString(s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("no literal for %T", v)
}

func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
