package server

import "testing"

func TestBrowserSmoke(t *testing.T) {
	wt := newWebTest(t, Config{})
	jane := wt.tab("jane")
	jane.signIn("jane")
	jane.open("/orgs/acme")
	jane.shot("smoke-org")
	jane.accessible()
}
