package maillog

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testenv"
)

func TestZZScratch(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.RawQuery+" "+string(b))
		mu.Unlock()
		w.Write([]byte(`{"status":0}`))
	}))
	defer srv.Close()
	m := testenv.StartMail(t, testenv.MailOptions{Users: map[string]string{"alice": "pw"}, PolicyURL: srv.URL + "/p", PolicyHeader: "X-API-Key: t"})
	c, _ := net.Dial("tcp", m.IMAPAddr)
	tp := textproto.NewConn(c)
	tp.ReadLine()
	for i := 0; i < 6; i++ {
		pw := "bad"
		if i == 5 {
			pw = "pw"
		}
		tp.PrintfLine("a%d LOGIN alice %s", i, pw)
		for {
			l, err := tp.ReadLine()
			fmt.Println("<", l, err)
			if err != nil || strings.HasPrefix(l, fmt.Sprintf("a%d ", i)) {
				break
			}
		}
	}
	c.Close()
	time.Sleep(2 * time.Second)
	mu.Lock()
	for _, g := range got {
		fmt.Println(g)
	}
	mu.Unlock()
	b, _ := os.ReadFile(m.DovecotLog)
	fmt.Println(string(b))
}
